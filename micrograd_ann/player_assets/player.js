// Backprop player: switches classes and text on SVGs that Graphviz laid out once, and
// pans and zooms so that each step is in view. All step data comes precomputed from
// player.py as JSON; nothing is laid out again, and user text only goes through textContent.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("mg-data").textContent);
  const byId = (id) => document.getElementById(id);
  const slider = byId("mg-slider");
  const playButton = byId("mg-play");
  const forwardBox = byId("mg-forward");
  const fitBox = byId("mg-fit");
  const speed = byId("mg-speed");
  const panel = byId("mg-text");
  const position = byId("mg-position");
  const graph = byId("mg-graph");
  const upButton = byId("mg-up");
  const crumbs = byId("mg-crumbs");
  const SVG_NS = "http://www.w3.org/2000/svg";
  const MIN_TEXT = 10.2; // CSS px: while following the steps, node text is never smaller
  const MAX_SCALE = 1.5; // CSS px per SVG unit at most: small graphs are not blown up
  const FOLLOW_SCALE = 1.0; // ... and while following steps: natural size, for context
  const FONT = 11; // the size viz gives node text, in SVG units
  const DATA = /(data )\S+/; // a Value's data in a label line
  const total = data.steps.length - 1;

  // Each Value's grad after each step that changes it: [[step, text], ...].
  const history = data.init.map(() => []);
  data.steps.forEach((step, g) => {
    for (const [value, text] of step.grads) history[value].push([g, text]);
  });
  function gradAt(value, g) {
    let text = data.init[value];
    for (const [s, t] of history[value]) {
      if (s > g) break;
      text = t;
    }
    return text;
  }

  // ------------------------------------------------------------- one view's SVG

  const built = new Map(); // view index -> its live state, made when first shown
  let view = null; // the state of the view shown
  let stop = 0; // where the view's slider is
  let forwardAt = -1; // >= 0: the forward pass is shown, at this position
  let timer = null;

  function build(index) {
    if (built.has(index)) return built.get(index);
    const spec = data.views[index];
    const svg = byId(spec.template).content.querySelector("svg").cloneNode(true);
    const whole = svg.viewBox.baseVal;
    const state = {
      index, spec, svg,
      whole: { x: whole.x, y: whole.y, w: whole.width, h: whole.height },
      unitEls: [], gradText: [], prefix: [], edgeEls: [], labels: new Map(),
      unitClass: [], edgeClass: [], shownLabels: [], boxes: new Map(), viewport: null,
    };
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    graph.replaceChildren(svg); // measuring needs it in the document
    state.unitEls = spec.units.map((name) => [svg.getElementById(name),
      svg.getElementById(name + "_op")].filter(Boolean));
    state.unitOf = new Map(spec.shown);
    if (spec.template !== `mg-view-${index}`) fillTexts(state);
    findGradTexts(state);
    state.edgeEls = spec.edges.map(([id]) => svg.getElementById(id));
    state.tailEls = spec.edges.map(([, tail]) => svg.getElementById(tail));
    state.unitClass = spec.units.map(() => "");
    state.edgeClass = spec.edges.map(() => "");
    // When each unit first gets a gradient, and each edge first carries one.
    state.reached = spec.units.map(() => total + 1);
    spec.slots.forEach(([unit, value]) => {
      const first = history[value].length ? history[value][0][0] : total + 1;
      state.reached[unit] = Math.min(state.reached[unit], first);
    });
    const rootUnit = state.unitOf.get(data.steps[0].node);
    if (rootUnit !== undefined) state.reached[rootUnit] = 0;
    state.edgeFirst = spec.edges.map(() => total + 1);
    for (const [g, , , edges] of spec.stops) {
      for (const [e] of edges) state.edgeFirst[e] = Math.min(state.edgeFirst[e], g);
    }
    for (const [e, unit] of spec.opEdges) state.edgeFirst[e] = state.reached[unit];
    linkUnits(state);
    built.set(index, state);
    return state;
  }

  // A view showing another's layout (a neuron like it) writes its own data and labels:
  // a unit's n slots are its last n lines with "data <number>", its label its first line.
  function fillTexts(state) {
    const { spec, unitEls } = state;
    const values = spec.units.map(() => []);
    for (const [unit, value] of spec.slots) values[unit].push(value);
    const fixed = new Set(spec.fixed.map((slot) => spec.slots[slot][0]));
    values.forEach((mine, u) => {
      const texts = unitEls[u].length ? [...unitEls[u][0].querySelectorAll("text")] : [];
      const lines = texts.filter((t) => DATA.test(t.textContent)).slice(-mine.length);
      lines.forEach((line, k) => {
        line.textContent = line.textContent.replace(DATA, `$1${data.data[mine[k]]}`);
        if (!fixed.has(u)) centre(line, unitEls[u][0]);
      });
    });
    for (const [unit, label] of spec.labels) {
      const first = unitEls[unit].length && unitEls[unit][0].querySelector("text");
      if (!first) continue;
      first.textContent = label;
      centre(first, unitEls[unit][0]);
    }
  }

  // Each grad slot is a text line "... grad <number>"; a unit's n slots are its last n
  // such lines (labels and titles come first).
  function findGradTexts(state) {
    const { spec, unitEls } = state;
    const count = spec.units.map(() => 0);
    for (const [unit] of spec.slots) count[unit] += 1;
    const lines = unitEls.map((els, u) => {
      const texts = els.length ? [...els[0].querySelectorAll("text")] : [];
      return texts.filter((t) => t.textContent.includes("grad ")).slice(-count[u]);
    });
    const seen = spec.units.map(() => 0);
    const fixed = new Set(spec.fixed);
    state.gradText = spec.slots.map(([unit], i) => {
      const text = lines[unit][seen[unit]++] || null;
      if (text) {
        text.classList.add("mg-grad");
        if (!fixed.has(i)) centre(text, unitEls[unit][0]);
      }
      return text;
    });
    state.prefix = state.gradText.map((el) => {
      const text = el ? el.textContent : "";
      return text.slice(0, text.lastIndexOf("grad ") + 5);
    });
  }

  // Graphviz anchors each label line at its start, placed for the text it measured; centre
  // the line on its node instead, so numbers of any width stay centred.
  function centre(text, node) {
    const shape = node.querySelector("path, polygon, ellipse");
    if (!shape || text.getAttribute("text-anchor") !== "start") return;
    const box = shape.getBBox();
    text.setAttribute("x", box.x + box.width / 2);
    text.setAttribute("text-anchor", "middle");
  }

  // Clicking a neuron (a box, or a box's row) opens the view one level down.
  function linkUnits(state) {
    const rowOf = new Map(); // text element -> the view its row opens
    for (const [unit, slot, target] of state.spec.links) {
      const el = state.unitEls[unit][0];
      if (!el) continue;
      if (slot < 0) {
        el.classList.add("mg-link");
        el.addEventListener("click", () => { if (!dragged) open(target); });
        continue;
      }
      const text = state.gradText[slot];
      if (!text) continue;
      text.classList.add("mg-link");
      rowOf.set(text, target);
    }
    state.svg.addEventListener("click", (event) => {
      if (rowOf.has(event.target) && !dragged) open(rowOf.get(event.target));
    });
  }

  // ------------------------------------------------------------ classes and text

  function setClass(elements, cache, index, cls) {
    if (cache[index] === cls) return;
    for (const el of elements) {
      if (!el) continue;
      if (cache[index]) el.classList.remove(...cache[index].split(" "));
      if (cls) el.classList.add(...cls.split(" "));
    }
    cache[index] = cls;
  }

  function setGrads(state, texts) {
    texts.forEach((text, i) => {
      const el = state.gradText[i];
      if (el && el.textContent !== text) el.textContent = text;
    });
  }

  // The chain-rule label of an edge, made on first use. Labels live in a group after
  // everything else, so they are drawn over the nodes.
  function edgeLabel(state, index) {
    if (!state.labels.has(index)) {
      const edge = state.edgeEls[index];
      if (!edge || !edge.querySelector("path")) return null;
      if (!state.labelLayer) {
        state.labelLayer = document.createElementNS(SVG_NS, "g");
        state.labelLayer.setAttribute("class", "mg-labels");
        edge.parentNode.appendChild(state.labelLayer);
      }
      const label = document.createElementNS(SVG_NS, "text");
      label.setAttribute("class", "mg-elabel");
      label.dataset.edge = state.spec.edges[index][0];
      state.labelLayer.appendChild(label);
      state.labels.set(index, label);
    }
    return state.labels.get(index);
  }

  // A label starts where its edge leaves the input node (where edges converging on one
  // node are still apart), beside that node: right of it in a graph drawn left to right;
  // below it in one drawn top down, on the side the edge comes from.
  function place(label, path, tail, across) {
    const start = path.getPointAtLength(0);
    const end = path.getPointAtLength(path.getTotalLength());
    const box = tail ? tail.getBBox() : { x: start.x, y: start.y, width: 0, height: 0 };
    if (across) {
      label.setAttribute("x", Math.max(start.x, box.x + box.width) + 4);
      label.setAttribute("y", start.y - 4);
      label.setAttribute("text-anchor", "start");
    } else {
      const left = end.x - start.x > 1; // heading right: write leftwards, off its path
      label.setAttribute("x", start.x + (left ? -5 : 5));
      label.setAttribute("y", Math.max(start.y, box.y + box.height) + 12);
      label.setAttribute("text-anchor", left ? "end" : "start");
    }
  }

  function showLabels(state, pairs) {
    for (const label of state.shownLabels) label.textContent = "";
    state.shownLabels = [];
    for (const [index, text] of pairs) {
      const label = edgeLabel(state, index);
      if (label) {
        label.textContent = text;
        place(label, state.edgeEls[index].querySelector("path"), state.tailEls[index],
          state.spec.rankdir === "LR");
        state.shownLabels.push(label);
      }
    }
  }

  function renderForward(state, f) {
    const spec = state.spec;
    const hide = spec.slots.map(([, value]) => data.before[value]);
    setGrads(state, hide.map((text, i) => state.prefix[i] + text));
    spec.units.forEach((_, u) => {
      const cls = spec.fwd[u] > f ? "mg-hidden" : spec.fwd[u] === f ? "mg-current" : "";
      setClass(state.unitEls[u], state.unitClass, u, cls);
    });
    spec.edges.forEach((_, e) => {
      setClass([state.edgeEls[e]], state.edgeClass, e, spec.edgeFwd[e] > f ? "mg-hidden" : "");
    });
    showLabels(state, []);
    const current = spec.fwd.indexOf(f);
    return { text: spec.forward[f], focus: current >= 0 ? state.unitEls[current] : [] };
  }

  function renderBackward(state, s) {
    const spec = state.spec;
    const [g, from, unit, edges] = spec.stops[s];
    setGrads(state, spec.slots.map(([, value], i) => state.prefix[i] + gradAt(value, g)));
    const updated = new Set();
    for (let k = from + 1; k <= g; k++) {
      for (const [value] of data.steps[k].grads) {
        const u = state.unitOf.get(value);
        if (u !== undefined) updated.add(u);
      }
    }
    spec.units.forEach((_, u) => {
      let cls = state.reached[u] > g ? "mg-pending" : "";
      if (u === unit) cls = "mg-current";
      else if (updated.has(u)) cls = "mg-updated";
      setClass(state.unitEls[u], state.unitClass, u, cls);
    });
    const active = new Set(edges.map((pair) => pair[0]));
    spec.edges.forEach((_, e) => {
      const cls = active.has(e) ? "mg-active" : state.edgeFirst[e] > g ? "mg-pending" : "";
      setClass([state.edgeEls[e]], state.edgeClass, e, cls);
    });
    showLabels(state, edges);
    let text = data.steps[0].text; // step 0: the seed
    if (spec.intro && s === 0) text = spec.intro;
    else if (g > 0) text = data.steps.slice(from + 1, g + 1).map((step) => step.text).join("\n\n");
    const focus = [];
    if (unit >= 0) focus.push(...state.unitEls[unit]);
    else if (s === 0 && spec.stops.length > 1 && spec.stops[1][2] >= 0) {
      focus.push(...state.unitEls[spec.stops[1][2]]); // where its first step will run
    }
    for (const u of updated) focus.push(...state.unitEls[u]);
    focus.push(...state.shownLabels);
    return { text, focus, current: unit >= 0 ? state.unitEls[unit] : [] };
  }

  // ------------------------------------------------------------------ pan and zoom

  // An element's bounding box in the SVG's own coordinates (those of its viewBox).
  function boxOf(state, el) {
    if (!state.boxes.has(el) || el.tagName === "text") {
      const b = el.getBBox();
      const m = state.svg.getScreenCTM().inverse().multiply(el.getScreenCTM());
      const xs = [], ys = [];
      for (const [x, y] of [[b.x, b.y], [b.x + b.width, b.y], [b.x, b.y + b.height],
        [b.x + b.width, b.y + b.height]]) {
        xs.push(m.a * x + m.c * y + m.e);
        ys.push(m.b * x + m.d * y + m.f);
      }
      state.boxes.set(el, { x0: Math.min(...xs), y0: Math.min(...ys),
        x1: Math.max(...xs), y1: Math.max(...ys) });
    }
    return state.boxes.get(el);
  }

  function union(boxes) {
    if (!boxes.length) return null;
    return boxes.reduce((a, b) => ({ x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0),
      x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) }));
  }

  function setViewport(state, cx, cy, scale) {
    const w = graph.clientWidth / scale, h = graph.clientHeight / scale;
    const whole = state.whole;
    // Keep the graph on screen: centre it along an axis where it fits, else clamp.
    const x = w >= whole.w ? whole.x + (whole.w - w) / 2
      : Math.min(Math.max(cx - w / 2, whole.x), whole.x + whole.w - w);
    const y = h >= whole.h ? whole.y + (whole.h - h) / 2
      : Math.min(Math.max(cy - h / 2, whole.y), whole.y + whole.h - h);
    state.viewport = { x, y, w, h, scale };
    state.svg.setAttribute("viewBox", `${x} ${y} ${w} ${h}`);
  }

  function wholeScale(state) {
    return Math.min(graph.clientWidth / state.whole.w, graph.clientHeight / state.whole.h);
  }

  // Show the step: the whole graph when it is readable so (it then never moves), else
  // the box around the step's nodes and labels, keeping what is already in view.
  function follow(state, focus, current) {
    const fit = wholeScale(state);
    const readable = MIN_TEXT / FONT;
    const whole = state.whole;
    if (fitBox.checked || fit >= readable) {
      setViewport(state, whole.x + whole.w / 2, whole.y + whole.h / 2, Math.min(fit, MAX_SCALE));
      return;
    }
    const box = union(focus.map((el) => boxOf(state, el)));
    if (!box) {
      if (!state.viewport) setViewport(state, whole.x, whole.y, readable);
      return;
    }
    const pad = 6;
    const b = { x0: box.x0 - pad, y0: box.y0 - pad, x1: box.x1 + pad, y1: box.y1 + pad };
    const v = state.viewport;
    if (v && v.scale >= readable && b.x0 >= v.x && b.y0 >= v.y &&
        b.x1 <= v.x + v.w && b.y1 <= v.y + v.h) return; // already in view
    const bw = b.x1 - b.x0, bh = b.y1 - b.y0;
    const scale = Math.max(readable,
      Math.min(graph.clientWidth / bw, graph.clientHeight / bh, FOLLOW_SCALE));
    let cx = (b.x0 + b.x1) / 2, cy = (b.y0 + b.y1) / 2;
    const mine = union(current.map((el) => boxOf(state, el)));
    if (mine) { // too big to show whole: keep the node whose rule runs in view
      const w = graph.clientWidth / scale, h = graph.clientHeight / scale;
      cx = Math.min(Math.max(cx, mine.x1 + pad - w / 2), mine.x0 - pad + w / 2);
      cy = Math.min(Math.max(cy, mine.y1 + pad - h / 2), mine.y0 - pad + h / 2);
    }
    setViewport(state, cx, cy, scale);
  }

  // Drag pans (and is not a click), the wheel zooms about the pointer.
  let drag = null;
  let dragged = false;
  graph.addEventListener("pointerdown", (event) => {
    dragged = false;
    if (!view || !view.viewport || event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, start: { ...view.viewport } };
  });
  window.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (!dragged && Math.hypot(dx, dy) < 4) return;
    dragged = true;
    graph.classList.add("mg-dragging");
    const v = drag.start;
    setViewport(view, v.x + v.w / 2 - dx / v.scale, v.y + v.h / 2 - dy / v.scale, v.scale);
  });
  window.addEventListener("pointerup", () => {
    drag = null;
    graph.classList.remove("mg-dragging");
  });
  graph.addEventListener("wheel", (event) => {
    if (!view || !view.viewport) return;
    event.preventDefault();
    const v = view.viewport;
    const rect = graph.getBoundingClientRect();
    const px = v.x + (event.clientX - rect.left) / v.scale;
    const py = v.y + (event.clientY - rect.top) / v.scale;
    const scale = Math.min(4, Math.max(wholeScale(view) * 0.9,
      v.scale * Math.exp(-event.deltaY / 500)));
    const w = graph.clientWidth / scale, h = graph.clientHeight / scale;
    const x = px - (event.clientX - rect.left) / scale;
    const y = py - (event.clientY - rect.top) / scale;
    setViewport(view, x + w / 2, y + h / 2, scale);
  }, { passive: false });

  // ---------------------------------------------------------------- navigation

  function forwardCount() {
    return view.index === 0 && forwardBox.checked ? data.views[0].forward.length : 0;
  }

  function render(pos) {
    const f = forwardCount();
    const count = f + view.spec.stops.length;
    pos = Math.max(0, Math.min(count - 1, pos));
    let shown;
    if (pos < f) {
      forwardAt = pos;
      shown = renderForward(view, pos);
      shown.current = shown.focus;
      position.textContent = `forward ${pos + 1} / ${f}`;
    } else {
      forwardAt = -1;
      stop = pos - f;
      shown = renderBackward(view, stop);
      const g = view.spec.stops[stop][0];
      const own = view.spec.parent !== null ? view.spec.title
        : view.spec.level === "network" ? "network" : "";
      position.textContent = own
        ? `${own} step ${stop} / ${view.spec.stops.length - 1} (backward step ${g} / ${total})`
        : `backward step ${g} / ${total}`;
    }
    panel.replaceChildren(...shown.text.split("\n").map((line) => {
      const row = document.createElement("div"); // one per line: wraps with a hanging indent
      row.textContent = line;
      return row;
    }));
    slider.max = String(count - 1);
    slider.value = String(pos);
    follow(view, shown.focus, shown.current);
  }

  function currentPosition() {
    return forwardAt >= 0 ? forwardAt : forwardCount() + stop;
  }

  // The stop of `state` showing global step g: the last one at or before it.
  function stopAt(state, g) {
    let found = 0;
    state.spec.stops.forEach(([at], s) => { if (at <= g) found = s; });
    return found;
  }

  function show(index, g) {
    stopPlaying();
    view = build(index);
    graph.replaceChildren(view.svg);
    graph.dataset.view = String(index);
    upButton.disabled = view.spec.parent === null;
    forwardBox.disabled = index !== 0;
    const path = [];
    for (let i = index; i !== null; i = data.views[i].parent) path.unshift(i);
    crumbs.replaceChildren();
    path.forEach((i, k) => {
      if (k) {
        const sep = document.createElement("span");
        sep.className = "mg-sep";
        sep.textContent = "\u25B8";
        crumbs.append(sep);
      }
      const name = data.views[i].title + (k === 0 ? ` (${data.views[i].level} level)` : "");
      if (i === index) {
        crumbs.append(document.createTextNode(name));
      } else {
        const button = document.createElement("button");
        button.textContent = name;
        button.addEventListener("click", () => up(i));
        crumbs.append(button);
      }
    });
    render(forwardCount() + stopAt(view, g));
  }

  function open(index) {
    show(index, data.views[index].stops[0][0]); // just before its first step
  }

  function up(index = view.spec.parent) {
    if (index === null || index === undefined) return;
    show(index, view.spec.stops[stop][0]);
  }

  function stopPlaying() {
    clearInterval(timer);
    timer = null;
    playButton.textContent = "play";
    playButton.title = "play (space)";
  }

  function play() {
    if (timer !== null) {
      stopPlaying();
      return;
    }
    if (currentPosition() >= Number(slider.max)) render(0);
    playButton.textContent = "pause";
    playButton.title = "pause (space)";
    timer = setInterval(() => {
      if (currentPosition() >= Number(slider.max)) stopPlaying();
      else render(currentPosition() + 1);
    }, 1000 / Number(speed.value));
  }

  byId("mg-first").addEventListener("click", () => render(0));
  byId("mg-prev").addEventListener("click", () => render(currentPosition() - 1));
  byId("mg-next").addEventListener("click", () => render(currentPosition() + 1));
  byId("mg-last").addEventListener("click", () => render(Number(slider.max)));
  playButton.addEventListener("click", play);
  upButton.addEventListener("click", () => up());
  slider.addEventListener("input", () => render(Number(slider.value)));
  speed.addEventListener("change", () => {
    if (timer !== null) {
      stopPlaying();
      play();
    }
  });
  fitBox.addEventListener("change", () => {
    view.viewport = null;
    render(currentPosition());
  });
  forwardBox.addEventListener("change", () => {
    // Keep the same backward step when the forward pass is added or removed;
    // from the start of backward, go to the start of forward.
    const n = data.views[0].forward.length;
    if (forwardBox.checked) render(stop === 0 ? 0 : stop + n);
    else render(stop);
  });
  window.addEventListener("resize", () => {
    view.viewport = null;
    render(currentPosition());
  });
  const keys = {
    ArrowRight: () => render(currentPosition() + 1),
    ArrowLeft: () => render(currentPosition() - 1),
    Home: () => render(0),
    End: () => render(Number(slider.max)),
    Escape: () => up(),
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

  forwardBox.checked = data.startForward;
  show(0, 0);
  render(0); // the first forward step when the page starts with the forward pass
})();
