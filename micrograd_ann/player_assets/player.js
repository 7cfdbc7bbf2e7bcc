// Backprop player: switches classes and text on the SVG that Graphviz laid out once.
// All step data comes precomputed from player.py as JSON; nothing is ever laid out again,
// and user text only ever goes through textContent.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("mg-data").textContent);
  const byId = (id) => document.getElementById(id);
  const slider = byId("mg-slider");
  const playButton = byId("mg-play");
  const forwardBox = byId("mg-forward");
  const speed = byId("mg-speed");
  const panel = byId("mg-text");
  const position = byId("mg-position");
  const graph = byId("mg-graph");

  // Elements of each unit (value node or collapsed box): the node, its op ellipse.
  const unitEls = data.units.map((name) => [byId(name), byId(name + "_op")].filter(Boolean));
  // Each grad slot is a text line "... grad <number>"; labels come first, so a unit's
  // n slots are its last n such lines.
  const gradText = findGradTexts();
  const prefix = gradText.map((el) => {
    const text = el ? el.textContent : "";
    return text.slice(0, text.lastIndexOf("grad ") + 5); // "grad ", or "n3: data 0.5  grad "
  });
  const edgeEls = data.edges.map((edge) => byId(edge[0]));
  const unitClass = data.units.map(() => "");
  const edgeClass = data.edges.map(() => "");
  const edgeLabels = new Map(); // edge index -> its label <text>: Graphviz's, or made on use
  let shownLabels = [];
  let current = 0;
  let timer = null;

  function findGradTexts() {
    const count = data.units.map(() => 0);
    for (const u of data.slots) count[u] += 1;
    const lines = unitEls.map((els, u) => {
      const texts = els.length ? [...els[0].querySelectorAll("text")] : [];
      return texts.filter((t) => t.textContent.includes("grad ")).slice(-count[u]);
    });
    const seen = data.units.map(() => 0);
    return data.slots.map((u) => {
      const text = lines[u][seen[u]++] || null;
      if (text) centre(text, unitEls[u][0]);
      return text;
    });
  }

  // Graphviz anchors each label line at its start, placed for the text it measured; centre
  // the line on its node instead, so numbers of any width stay centred.
  function centre(text, node) {
    text.classList.add("mg-grad");
    const shape = node.querySelector("path, polygon, ellipse");
    if (!shape || text.getAttribute("text-anchor") !== "start") return;
    const box = shape.getBBox();
    text.setAttribute("x", box.x + box.width / 2);
    text.setAttribute("text-anchor", "middle");
  }

  function setClass(elements, cache, index, cls) {
    if (cache[index] === cls) return;
    for (const el of elements) {
      if (cache[index]) el.classList.remove(...cache[index].split(" "));
      if (cls) el.classList.add(...cls.split(" "));
    }
    cache[index] = cls;
  }

  function setTexts(texts) {
    texts.forEach((text, i) => {
      const el = gradText[i];
      if (el && el.textContent !== text) el.textContent = text;
    });
  }

  // With edge_labels=True Graphviz left room for a label: reuse its text, blank until used.
  edgeEls.forEach((edge, index) => {
    const texts = edge ? [...edge.querySelectorAll("text")] : [];
    for (const text of texts) text.textContent = "";
    if (texts.length) {
      texts[0].classList.add("mg-elabel");
      edgeLabels.set(index, texts[0]);
    }
  });

  function edgeLabel(index) {
    if (!edgeLabels.has(index)) {
      const path = edgeEls[index] && edgeEls[index].querySelector("path");
      if (!path) return null;
      // A third of the way from the input, where converging edges are still apart.
      const middle = path.getPointAtLength(path.getTotalLength() / 3);
      const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
      label.setAttribute("x", middle.x);
      label.setAttribute("y", middle.y - 4); // just above the line
      label.setAttribute("class", "mg-elabel mg-elabel-own");
      edgeEls[index].appendChild(label);
      edgeLabels.set(index, label);
    }
    return edgeLabels.get(index);
  }

  function showLabels(pairs) {
    for (const label of shownLabels) label.textContent = "";
    shownLabels = [];
    for (const [index, text] of pairs) {
      const label = edgeLabel(index);
      if (label) {
        label.textContent = text;
        shownLabels.push(label);
      }
    }
  }

  function forwardCount() {
    return forwardBox.checked ? data.forward.length : 0;
  }

  function renderForward(f) {
    setTexts(data.before.map((number, i) => prefix[i] + number));
    data.units.forEach((_, u) => {
      const cls = data.fwd[u] > f ? "mg-hidden" : data.fwd[u] === f ? "mg-current" : "";
      setClass(unitEls[u], unitClass, u, cls);
    });
    data.edges.forEach((edge, e) => {
      setClass([edgeEls[e]], edgeClass, e, edge[2] > f ? "mg-hidden" : "");
    });
    showLabels([]);
    return data.forward[f];
  }

  function renderBackward(k) {
    const numbers = data.init.slice();
    for (let s = 1; s <= k; s++) {
      for (const [slot, number] of data.steps[s].grads) numbers[slot] = number;
    }
    setTexts(numbers.map((number, i) => prefix[i] + number));
    const step = data.steps[k];
    const updated = new Set(step.grads.map((pair) => data.slots[pair[0]]));
    data.units.forEach((_, u) => {
      let cls = data.reached[u] > k ? "mg-pending" : "";
      if (u === step.u) cls = "mg-current";
      else if (updated.has(u)) cls = "mg-updated";
      setClass(unitEls[u], unitClass, u, cls);
    });
    const active = new Set(step.edges.map((pair) => pair[0]));
    data.edges.forEach((edge, e) => {
      const cls = active.has(e) ? "mg-active" : edge[1] > k ? "mg-pending" : "";
      setClass([edgeEls[e]], edgeClass, e, cls);
    });
    showLabels(step.edges);
    return step;
  }

  function render(pos) {
    const total = forwardCount() + data.steps.length;
    current = Math.max(0, Math.min(total - 1, pos));
    const f = forwardCount();
    const step = current < f ? renderForward(current) : renderBackward(current - f);
    panel.textContent = step.text;
    slider.max = String(total - 1);
    slider.value = String(current);
    position.textContent = current < f
      ? `forward ${current + 1} / ${f}`
      : `backward step ${current - f} / ${data.steps.length - 1}`;
    const unit = step.u >= 0 ? unitEls[step.u][0] : null;
    if (unit && !graph.classList.contains("mg-fit")) {
      unit.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  }

  function stop() {
    clearInterval(timer);
    timer = null;
    playButton.textContent = "play";
    playButton.title = "play (space)";
  }

  function play() {
    if (timer !== null) {
      stop();
      return;
    }
    if (current >= Number(slider.max)) render(0);
    playButton.textContent = "pause";
    playButton.title = "pause (space)";
    timer = setInterval(() => {
      if (current >= Number(slider.max)) stop();
      else render(current + 1);
    }, 1000 / Number(speed.value));
  }

  byId("mg-first").addEventListener("click", () => render(0));
  byId("mg-prev").addEventListener("click", () => render(current - 1));
  byId("mg-next").addEventListener("click", () => render(current + 1));
  byId("mg-last").addEventListener("click", () => render(Number(slider.max)));
  playButton.addEventListener("click", play);
  slider.addEventListener("input", () => render(Number(slider.value)));
  speed.addEventListener("change", () => {
    if (timer !== null) {
      stop();
      play();
    }
  });
  const fitBox = byId("mg-fit");
  fitBox.addEventListener("change", () => graph.classList.toggle("mg-fit", fitBox.checked));
  forwardBox.addEventListener("change", () => {
    // Keep the same backward step when the forward pass is added or removed;
    // from the start of backward, go to the start of forward.
    const n = data.forward.length;
    if (forwardBox.checked) render(current === 0 ? 0 : current + n);
    else render(Math.max(0, current - n));
  });
  const keys = {
    ArrowRight: () => render(current + 1),
    ArrowLeft: () => render(current - 1),
    Home: () => render(0),
    End: () => render(Number(slider.max)),
    " ": play,
  };
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const tag = target.tagName;
    // Sliders and menus handle arrows themselves; buttons and boxes handle space.
    if (tag === "SELECT" || target.type === "range") return;
    if (event.key === " " && (tag === "BUTTON" || tag === "INPUT")) return;
    if (event.altKey || event.ctrlKey || event.metaKey || !(event.key in keys)) return;
    event.preventDefault();
    keys[event.key]();
  });

  // Fit to window starts on only when fitting shrinks the graph to no less than half its
  // natural size: text then stays readable. A big graph (a whole MLP's loss) would become
  // a sliver of unreadable text, so it starts at full size, scrolled to the current node.
  const svg = graph.querySelector("svg");
  if (svg) {
    const scale = Math.min(graph.clientWidth / svg.width.baseVal.value,
                           graph.clientHeight / svg.height.baseVal.value);
    fitBox.checked = scale >= 0.5;
    graph.classList.toggle("mg-fit", fitBox.checked);
  }
  forwardBox.checked = data.startForward;
  render(0);
})();
