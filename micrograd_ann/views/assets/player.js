// Backprop player: switches classes and text on SVGs that Graphviz laid out once, writes
// the current step's edge labels where they cover no node, and pans and zooms so that the
// whole step is in view at a readable size -- at a coarser level when it does not fit.
// All step data comes precomputed from player.py as JSON; nothing is laid out again, and
// user text only goes through textContent.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("mg-data").textContent);
  const byId = (id) => document.getElementById(id);
  const slider = byId("mg-slider");
  const playButton = byId("mg-play");
  const forwardBox = byId("mg-forward");
  const fitBox = byId("mg-fit");
  const presentBox = byId("mg-present");
  const speed = byId("mg-speed");
  const panel = byId("mg-text");
  const position = byId("mg-position");
  const graph = byId("mg-graph");
  const upButton = byId("mg-up");
  const crumbs = byId("mg-crumbs");
  const shownAt = byId("mg-shown");
  const note = byId("mg-note");
  const SVG_NS = "http://www.w3.org/2000/svg";
  const MIN_PX = 11; // CSS px: text a step is about is never smaller (times the text size)
  const FONT = 11; // the size of node and edge-label text, in SVG units
  const MAX_SCALE = 1.5; // small graphs are not blown up further (times the text size)
  const SIZES = [1, 1.25, 1.5, 1.75, 2, 2.5]; // the text sizes offered
  const PRESENT = 2; // the text size presentation mode starts at (an index into SIZES)
  const PAD = 8; // SVG units kept around what a step is about
  const DATA = /(data )\S+/; // a Value's data in a label line
  // Kept on one line in the side panel: numbers, and "(now <number>)".
  const UNBROKEN = /\(now [^)]*\)|-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?/g;
  const total = data.steps.length - 1;
  // In a notebook the page is a frame: the wheel then scrolls the notebook.
  const framed = (() => {
    try { return window.self !== window.top; } catch (e) { return true; }
  })();

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

  // ------------------------------------------------------------- boxes

  // Boxes are in the coordinates of a view's main group, where Graphviz placed everything.
  const union = (boxes) => (boxes.length ? boxes.reduce((a, b) => ({
    x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0),
    x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) })) : null);
  const grow = (b, d) => ({ x0: b.x0 - d, y0: b.y0 - d, x1: b.x1 + d, y1: b.y1 + d });
  function overlap(a, b) {
    const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
    const h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
    return w > 0 && h > 0 ? w * h : 0;
  }

  // An element's box, cached unless empty: a frame with no size yet measures every box as
  // 0 x 0 (Jupyter), and that must not stick.
  const boxes = new WeakMap();
  function boxOf(el) {
    if (boxes.has(el)) return boxes.get(el);
    const b = el.getBBox();
    const box = { x0: b.x, y0: b.y, x1: b.x + b.width, y1: b.y + b.height };
    if (b.width > 0 || b.height > 0) boxes.set(el, box);
    return box;
  }

  // ------------------------------------------------------------- one view's SVG

  const built = new Map(); // view index -> its live state, made when first shown
  let nav = null; // the state of the view the slider steps through
  let view = null; // the state of the view on screen: nav's, or a coarser one's
  let stop = 0; // where nav's slider is
  let forwardAt = -1; // >= 0: the forward pass is shown, at this position
  let trail = []; // the views above nav, each with the position it was left at
  let timer = null;
  let sizeIndex = 0;
  // The graph pane's size in CSS px, read when it changes: reading it per step would lay
  // the drawing out again each time.
  const pane = { w: 0, h: 0 };

  function build(index) {
    if (built.has(index)) return built.get(index);
    const spec = data.views[index];
    const svg = byId(spec.template).content.querySelector("svg").cloneNode(true);
    const whole = svg.viewBox.baseVal;
    const state = {
      index, spec, svg,
      whole: { x: whole.x, y: whole.y, w: whole.width, h: whole.height },
      unitEls: [], gradText: [], prefix: [], edgeEls: [], labels: new Map(),
      unitClass: [], edgeClass: [], slotClass: [], shownLabels: [], viewport: null,
      points: new Map(), leaders: new Map(),
    };
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    graph.replaceChildren(svg); // measuring needs it in the document
    state.main = svg.querySelector("g");
    const m = state.main.transform.baseVal.consolidate();
    state.matrix = m ? m.matrix : svg.createSVGMatrix();
    state.unitEls = spec.units.map((name) => [svg.getElementById(name),
      svg.getElementById(name + "_op")].filter(Boolean));
    state.unitOf = new Map(spec.shown);
    if (spec.template !== `mg-view-${index}`) fillTexts(state);
    findGradTexts(state);
    state.edgeEls = spec.edges.map(([id]) => svg.getElementById(id));
    state.tailEls = spec.edges.map(([, tail]) => svg.getElementById(tail));
    state.unitClass = spec.units.map(() => "");
    state.edgeClass = spec.edges.map(() => "");
    state.slotClass = spec.slots.map(() => "");
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
    state.slotsOf = spec.units.map(() => []);
    spec.slots.forEach(([unit], i) => state.slotsOf[unit].push(i));
    state.rowMark = document.createElementNS(SVG_NS, "rect");
    state.rowMark.setAttribute("class", "mg-rowmark");
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
  // everything else, so they are drawn over the edges.
  function edgeLabel(state, index) {
    if (!state.labels.has(index)) {
      const edge = state.edgeEls[index];
      if (!edge || !edge.querySelector("path")) return null;
      if (!state.labelLayer) {
        state.labelLayer = document.createElementNS(SVG_NS, "g");
        state.labelLayer.setAttribute("class", "mg-labels");
        state.main.appendChild(state.labelLayer);
      }
      const label = document.createElementNS(SVG_NS, "text");
      label.setAttribute("class", "mg-elabel");
      label.setAttribute("text-anchor", "middle");
      label.dataset.edge = state.spec.edges[index][0];
      state.labelLayer.appendChild(label);
      state.labels.set(index, label);
    }
    return state.labels.get(index);
  }

  // The line tying a label placed off its edge to the edge, made on first use.
  function leaderOf(state, index) {
    if (!state.leaders.has(index)) {
      const leader = document.createElementNS(SVG_NS, "line");
      leader.setAttribute("class", "mg-leader");
      leader.dataset.edge = state.spec.edges[index][0];
      state.labelLayer.insertBefore(leader, state.labelLayer.firstChild);
      state.leaders.set(index, leader);
    }
    return state.leaders.get(index);
  }

  // A label's text on one line or, between ranks drawn left to right, on two or three:
  // the upstream grad, "x local", then "= sum" (or "-> n values").
  function forms(text, across) {
    const cut = Math.max(text.indexOf(" = "), text.indexOf(" \u2192 "));
    const times = text.indexOf(" \u00d7 ");
    const found = [[text]];
    if (!across || cut < 0) return found;
    found.push([text.slice(0, cut), text.slice(cut)]);
    if (times > 0 && times < cut) {
      found.push([text.slice(0, times), text.slice(times, cut), text.slice(cut)]);
    }
    return found;
  }

  function write(label, lines) {
    label.replaceChildren(...lines.map((line, k) => {
      const span = document.createElementNS(SVG_NS, "tspan");
      span.setAttribute("x", "0");
      span.setAttribute("dy", k ? "1.2em" : "0");
      span.textContent = line;
      return span;
    }));
    label.setAttribute("x", "0");
    label.setAttribute("y", "0");
  }

  // Label text is measured on a canvas, in the label's font: measuring SVG text would lay
  // out the whole drawing again for each try. The label's line height and ascent are
  // measured once, in the SVG.
  const ruler = document.createElement("canvas").getContext("2d");
  const metrics = { font: "", height: 0, line: 0, ascent: 0 };
  function measure(label, text) {
    if (!metrics.font) {
      const style = getComputedStyle(label);
      metrics.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
      write(label, ["Hg", "Hg"]);
      const two = label.getBBox();
      write(label, ["Hg"]);
      const one = label.getBBox();
      metrics.height = one.height;
      metrics.line = two.height - one.height;
      metrics.ascent = -one.y;
      label.replaceChildren();
    }
    ruler.font = metrics.font;
    return ruler.measureText(text).width;
  }

  // Points along an edge from its input end (where edges converging on one node are still
  // apart) to the other, and what a label there costs (nearer the input end, less). Read
  // from the path Graphviz wrote -- "M p0 C p1 p2 p3 C ..." -- once per edge: asking the
  // browser for points on thousands of paths takes seconds.
  const ALONG = [0.3, 0.2, 0.4, 0.1, 0.5, 0.6, 0.7, 0.8, 0.05, 0.9];
  function along(state, index) {
    if (!state.points.has(index)) {
      const path = state.edgeEls[index].querySelector("path");
      const xy = (path.getAttribute("d").match(/-?[\d.]+(?:e[-+]?\d+)?/g) || []).map(Number);
      const pts = [];
      for (let k = 0; k + 1 < xy.length; k += 2) pts.push([xy[k], xy[k + 1]]);
      const segments = Math.max(1, Math.floor((pts.length - 1) / 3));
      const points = ALONG.map((t) => {
        const at = Math.min(segments - 1, Math.floor(t * segments));
        const u = t * segments - at;
        const [a, b, c, d] = [0, 1, 2, 3].map((k) => pts[Math.min(3 * at + k, pts.length - 1)]);
        const v = 1 - u;
        const mix = (i) => v * v * v * a[i] + 3 * v * v * u * b[i] + 3 * v * u * u * c[i] +
          u * u * u * d[i];
        return { x: mix(0), y: mix(1), cost: Math.abs(t - 0.3) * 24 };
      });
      const xs = pts.map((q) => q[0]), ys = pts.map((q) => q[1]);
      const box = { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs),
        y1: Math.max(...ys) };
      state.points.set(index, { box, points });
    }
    return state.points.get(index);
  }

  // Where a label of w x h may go: above, below or beside the points along its edge; with
  // `far`, up to a few lines further off (costing more: a leader line then ties it to its
  // edge).
  function candidates(points, w, h, far) {
    const found = [];
    const step = metrics.line;
    const offsets = [[-w / 2, -h - 2, 0], [-w / 2, 2, 0], [4, -h / 2, 3], [-w - 4, -h / 2, 3],
      [-w / 2, -h / 2, 8]];
    for (let k = 1; far && k <= 8; k++) {
      for (const dx of [-w / 2, 4, -w - 4]) {
        offsets.push([dx, -h - 2 - k * step, 6 + 6 * k], [dx, 2 + k * step, 6 + 6 * k]);
      }
    }
    for (const p of points) {
      for (const [dx, dy, cost] of offsets) {
        found.push({ x0: p.x + dx, y0: p.y + dy, x1: p.x + dx + w, y1: p.y + dy + h,
          cost: p.cost + cost, p });
      }
    }
    return found;
  }

  // The nodes' boxes, which labels must not cover.
  function nodeBoxes(state) {
    if (!state.nodeBoxes) state.nodeBoxes = [...state.svg.querySelectorAll("g.node")].map(boxOf);
    return state.nodeBoxes;
  }

  // Writes the step's edge labels, each where it covers no node and no other label if it
  // can, else where it covers least; returns their boxes, and whether any covers something.
  // Everything is measured before anything is written, so the drawing is laid out once.
  function showLabels(state, pairs) {
    const nodes = nodeBoxes(state);
    const across = state.spec.rankdir === "LR";
    const chosen = [];
    for (const [index, text] of pairs) {
      const label = edgeLabel(state, index);
      if (!label) continue;
      const { box, points } = along(state, index);
      const around = grow(box, 260);
      const obstacles = nodes.filter((b) => overlap(b, around));
      let best = null;
      for (const far of [false, true]) { // further off only when nothing near is free
        if (best && best.covered === 0) break;
        for (const [f, lines] of forms(text, across).entries()) {
          const w = Math.max(...lines.map((line) => measure(label, line)));
          const h = metrics.height + (lines.length - 1) * metrics.line;
          for (const c of candidates(points, w, h, far)) {
            // What it covers, and what it comes within 2 units of (a margin, cheaper).
            let covered = 0, near = 0;
            for (const o of obstacles) {
              covered += overlap(c, o);
              near += overlap(c, grow(o, 2));
            }
            for (const o of chosen) covered += overlap(c, grow(o.box, 1));
            const cost = c.cost + f * 12 + covered * 20 + near * 2 +
              (inside(c, state) ? 0 : 5000);
            if (!best || cost < best.cost) best = { cost, covered, lines, box: c, label, index };
          }
        }
      }
      chosen.push(best);
    }
    for (const label of state.shownLabels) label.replaceChildren();
    for (const leader of state.leaders.values()) leader.setAttribute("visibility", "hidden");
    state.shownLabels = [];
    for (const { lines, box, label, index } of chosen) {
      write(label, lines);
      const x = (box.x0 + box.x1) / 2, y = box.y0 + metrics.ascent;
      label.setAttribute("x", x);
      label.setAttribute("y", y);
      for (const span of label.children) span.setAttribute("x", x);
      state.shownLabels.push(label);
      // Off its edge: a leader from the label to the point of the edge it was placed by.
      const { p } = box;
      const qx = Math.min(Math.max(p.x, box.x0), box.x1);
      const qy = Math.min(Math.max(p.y, box.y0), box.y1);
      if (Math.hypot(qx - p.x, qy - p.y) > 6) {
        const leader = leaderOf(state, index);
        leader.setAttribute("x1", p.x);
        leader.setAttribute("y1", p.y);
        leader.setAttribute("x2", qx);
        leader.setAttribute("y2", qy);
        leader.setAttribute("visibility", "visible");
      }
    }
    return { boxes: chosen.map((c) => c.box), covering: chosen.some((c) => c.covered > 0) };
  }

  // Is a box (main-group units) inside the drawing?
  function inside(b, state) {
    const v = toView(state, b);
    const w = state.whole;
    return v.x0 >= w.x && v.y0 >= w.y && v.x1 <= w.x + w.w && v.y1 <= w.y + w.h;
  }

  // A box in the main group's units, in the SVG's (its viewBox's).
  function toView(state, b) {
    const m = state.matrix;
    const xs = [m.a * b.x0 + m.c * b.y0 + m.e, m.a * b.x1 + m.c * b.y1 + m.e];
    const ys = [m.b * b.x0 + m.d * b.y0 + m.f, m.b * b.x1 + m.d * b.y1 + m.f];
    return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
  }

  // Outlines the row of the step's neuron in a box of rows (or none: slot -1).
  function markRow(state, slot) {
    const mark = state.rowMark;
    const text = slot >= 0 ? state.gradText[slot] : null;
    if (state.markedRow && state.markedRow !== text) {
      state.markedRow.classList.remove("mg-row-current");
    }
    state.markedRow = text;
    if (!text) {
      mark.remove();
      return null;
    }
    text.classList.add("mg-row-current");
    const b = grow(boxOf(text), 2);
    mark.setAttribute("x", b.x0);
    mark.setAttribute("y", b.y0);
    mark.setAttribute("width", b.x1 - b.x0);
    mark.setAttribute("height", b.y1 - b.y0);
    text.parentNode.insertBefore(mark, text);
    return b;
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
    spec.slots.forEach((_, i) => setClass([state.gradText[i]], state.slotClass, i, ""));
    showLabels(state, []);
    markRow(state, -1);
    const current = spec.fwd.indexOf(f);
    const focus = current >= 0 ? state.unitEls[current].map(boxOf) : [];
    return { text: spec.forward[f], focus, current: focus };
  }

  function renderBackward(state, s) {
    const spec = state.spec;
    const [g, from, unit, edges, row] = spec.stops[s];
    setGrads(state, spec.slots.map(([, value], i) => state.prefix[i] + gradAt(value, g)));
    const updated = new Set(); // Values
    for (let k = from + 1; k <= g; k++) {
      for (const [value] of data.steps[k].grads) updated.add(value);
    }
    const units = new Set();
    for (const value of updated) {
      const u = state.unitOf.get(value);
      if (u !== undefined && u !== unit) units.add(u);
    }
    spec.units.forEach((_, u) => {
      let cls = state.reached[u] > g ? "mg-pending" : "";
      if (u === unit) cls = "mg-current";
      else if (units.has(u)) cls = "mg-updated";
      setClass(state.unitEls[u], state.unitClass, u, cls);
    });
    spec.slots.forEach(([, value], i) => {
      setClass([state.gradText[i]], state.slotClass, i, updated.has(value) ? "mg-changed" : "");
    });
    const active = new Set(edges.map((pair) => pair[0]));
    spec.edges.forEach((_, e) => {
      const cls = active.has(e) ? "mg-active" : state.edgeFirst[e] > g ? "mg-pending" : "";
      setClass([state.edgeEls[e]], state.edgeClass, e, cls);
    });
    const { boxes: labels, covering } = showLabels(state, edges);
    const mark = markRow(state, row);
    let text = data.steps[0].text; // step 0: the seed
    if (spec.intro && s === 0) text = spec.intro;
    else if (g > 0) text = data.steps.slice(from + 1, g + 1).map((step) => step.text).join("\n\n");
    // What the step is about: in a box of rows, its rows; else whole nodes.
    const about = (u) => {
      const rows = state.slotsOf[u].filter((i) => updated.has(spec.slots[i][1]));
      if (state.slotsOf[u].length > 1 && rows.length && state.gradText[rows[0]]) {
        return rows.map((i) => boxOf(state.gradText[i]));
      }
      return state.unitEls[u].map(boxOf);
    };
    const current = [];
    if (mark) current.push(mark);
    else if (unit >= 0) current.push(...state.unitEls[unit].map(boxOf));
    else if (s === 0 && spec.stops.length > 1 && spec.stops[1][2] >= 0) {
      current.push(...state.unitEls[spec.stops[1][2]].map(boxOf)); // where its first step runs
    }
    const focus = [...current, ...labels];
    for (const u of units) focus.push(...about(u));
    return { text, focus, current, updated: units.size, covering };
  }

  // ------------------------------------------------------------------ pan and zoom

  const textScale = () => SIZES[sizeIndex];
  const readable = () => (MIN_PX / FONT) * textScale(); // the least scale, px per SVG unit

  function setViewport(state, cx, cy, scale) {
    const w = pane.w / scale, h = pane.h / scale;
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
    return Math.min(pane.w / state.whole.w, pane.h / state.whole.h);
  }

  // The largest scale showing the boxes whole, with a margin; null for no boxes.
  function fitScale(state, focus) {
    if (!focus.length) return null;
    const b = grow(toView(state, union(focus)), PAD);
    return Math.min(pane.w / (b.x1 - b.x0), pane.h / (b.y1 - b.y0));
  }

  // Show the step: the whole graph when it is readable so (it then never moves), else the
  // box around the step's nodes and labels at a readable size, moving as little as
  // possible; a step too large for the pane keeps the node whose rule runs in view.
  function follow(state, focus, current) {
    const fit = wholeScale(state);
    const least = readable();
    const whole = state.whole;
    const overview = fitBox.checked && fit < least;
    graph.classList.toggle("mg-overview", overview);
    note.hidden = !overview;
    if (fitBox.checked || fit >= least) {
      setViewport(state, whole.x + whole.w / 2, whole.y + whole.h / 2,
        Math.min(fit, MAX_SCALE * textScale()));
      return;
    }
    if (!focus.length) {
      if (!state.viewport) setViewport(state, whole.x, whole.y, least);
      return;
    }
    const b = grow(toView(state, union(focus)), PAD);
    const v = state.viewport;
    if (v && v.scale >= least && (b.x1 - b.x0) * v.scale <= pane.w &&
        (b.y1 - b.y0) * v.scale <= pane.h) {
      const x = Math.min(Math.max(v.x, b.x1 - v.w), b.x0);
      const y = Math.min(Math.max(v.y, b.y1 - v.h), b.y0);
      setViewport(state, x + v.w / 2, y + v.h / 2, v.scale); // the least move
      return;
    }
    const w = pane.w / least, h = pane.h / least;
    let cx = (b.x0 + b.x1) / 2, cy = (b.y0 + b.y1) / 2;
    const mine = current.length ? grow(toView(state, union(current)), PAD) : null;
    if (mine) { // too big to show whole: keep the node whose rule runs in view
      cx = Math.min(Math.max(cx, mine.x1 - w / 2), mine.x0 + w / 2);
      cy = Math.min(Math.max(cy, mine.y1 - h / 2), mine.y0 + h / 2);
    }
    setViewport(state, cx, cy, least);
  }

  // Drag pans (and is not a click); Ctrl + wheel (a pinch on a touchpad) zooms about the
  // pointer; the plain wheel pans, or in a notebook scrolls the notebook.
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
    const zoom = event.ctrlKey || event.metaKey;
    if (!zoom && framed) return; // the notebook scrolls
    event.preventDefault();
    const v = view.viewport;
    if (!zoom) {
      setViewport(view, v.x + v.w / 2 + event.deltaX / v.scale,
        v.y + v.h / 2 + event.deltaY / v.scale, v.scale);
      return;
    }
    const rect = graph.getBoundingClientRect();
    const px = v.x + (event.clientX - rect.left) / v.scale;
    const py = v.y + (event.clientY - rect.top) / v.scale;
    const scale = Math.min(4 * textScale(), Math.max(wholeScale(view) * 0.9,
      v.scale * Math.exp(-event.deltaY / 300)));
    const w = pane.w / scale, h = pane.h / scale;
    const x = px - (event.clientX - rect.left) / scale;
    const y = py - (event.clientY - rect.top) / scale;
    setViewport(view, x + w / 2, y + h / 2, scale);
  }, { passive: false });
  // In the overview (the whole graph, too small to read), a click reads there.
  graph.addEventListener("click", (event) => {
    if (dragged || !graph.classList.contains("mg-overview")) return;
    if (event.target.closest && event.target.closest(".mg-link")) return;
    const v = view.viewport;
    const rect = graph.getBoundingClientRect();
    fitBox.checked = false;
    graph.classList.remove("mg-overview");
    note.hidden = true;
    setViewport(view, v.x + (event.clientX - rect.left) / v.scale,
      v.y + (event.clientY - rect.top) / v.scale, readable());
  });

  // ---------------------------------------------------------------- navigation

  function forwardCount() {
    return nav.index === 0 && forwardBox.checked ? data.views[0].forward.length : 0;
  }

  // Puts a view's SVG on screen (before measuring anything in it).
  function attach(state) {
    if (graph.firstChild !== state.svg) graph.replaceChildren(state.svg);
    view = state;
    graph.dataset.view = String(state.index);
  }

  // The stop of `state` showing global step g: the last one at or before it.
  function stopAt(state, g) {
    let found = 0;
    state.spec.stops.forEach(([at], s) => { if (at <= g) found = s; });
    return found;
  }

  // Stop s of nav, on screen: at nav's level if it fits the pane readably, else at the
  // first coarser level where it does (or the one where it comes nearest).
  function showStop(s) {
    attach(nav);
    const least = readable();
    // How far a rendering falls short of legible: 0 when it fits and its labels cover
    // nothing, else the more the smaller the scale it needs.
    const shortfall = (shown, scale) => (scale === null ? 0 : Math.max(0, least - scale)) +
      (shown.covering ? least / 4 : 0);
    let shown = renderBackward(nav, s);
    let best = { state: nav, shown, s, miss: shortfall(shown, fitScale(nav, shown.focus)) };
    if (best.miss > 0 && !fitBox.checked) {
      const g = nav.spec.stops[s][0];
      for (const index of nav.spec.coarser || []) {
        const state = build(index);
        attach(state);
        const at = stopAt(state, g);
        shown = renderBackward(state, at);
        const miss = shortfall(shown, fitScale(state, shown.focus));
        if (miss < best.miss) best = { state, shown, s: at, miss };
        if (miss === 0) break;
      }
      attach(best.state);
    }
    graph.dataset.stop = String(best.s);
    if (best.state === nav) {
      shownAt.textContent = "";
    } else {
      const [g] = nav.spec.stops[s];
      const many = best.shown.updated > 1 ? `its ${best.shown.updated} updated inputs` : "it";
      shownAt.textContent = `step ${g} shown at the ${best.state.spec.level} level: at the ` +
        `${nav.spec.level} level ${many} would not fit the pane readably`;
    }
    return best.shown;
  }

  function render(pos) {
    const f = forwardCount();
    const count = f + nav.spec.stops.length;
    pos = Math.max(0, Math.min(count - 1, pos));
    let shown;
    if (pos < f) {
      forwardAt = pos;
      attach(nav);
      shown = renderForward(nav, pos);
      graph.dataset.stop = "-1";
      shownAt.textContent = "";
      position.textContent = `forward ${pos + 1} / ${f}`;
    } else {
      forwardAt = -1;
      stop = pos - f;
      shown = showStop(stop);
      const g = nav.spec.stops[stop][0];
      const own = nav.spec.parent !== null ? nav.spec.title
        : nav.spec.level === "network" ? "network" : "";
      position.textContent = own
        ? `${own} step ${stop} / ${nav.spec.stops.length - 1} (backward step ${g} / ${total})`
        : `backward step ${g} / ${total}`;
    }
    panel.replaceChildren(...shown.text.split("\n").map(line));
    slider.max = String(count - 1);
    slider.value = String(pos);
    follow(view, shown.focus, shown.current);
  }

  // One line of the side panel: wraps with a hanging indent, never inside a number.
  function line(text) {
    const row = document.createElement("div");
    let at = 0;
    for (const m of text.matchAll(UNBROKEN)) {
      if (m.index > at) row.append(text.slice(at, m.index));
      const number = document.createElement("span");
      number.className = "mg-num";
      number.textContent = m[0];
      row.append(number);
      at = m.index + m[0].length;
    }
    row.append(text.slice(at));
    return row;
  }

  function currentPosition() {
    return forwardAt >= 0 ? forwardAt : forwardCount() + stop;
  }

  // Makes view `index` the one the slider steps through (not yet rendered).
  function show(index) {
    stopPlaying();
    nav = build(index);
    attach(nav);
    upButton.disabled = trail.length === 0;
    forwardBox.disabled = index !== 0;
    crumbs.replaceChildren();
    [...trail.map((t) => t.index), index].forEach((i, k) => {
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
  }

  // Opens a neuron's view just before its first step; up comes back to where this was.
  function open(index) {
    trail.push({ index: nav.index, pos: currentPosition() });
    show(index);
    render(stopAt(nav, data.views[index].stops[0][0]));
  }

  // Back to view `index` above (the one just above by default), where it was left.
  function up(index) {
    if (!trail.length) return;
    const k = index === undefined ? trail.length - 1 : trail.findIndex((t) => t.index === index);
    if (k < 0) return;
    const back = trail[k];
    trail = trail.slice(0, k);
    show(back.index);
    render(back.pos);
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

  // Text size: every view is followed again at the new least scale.
  function setSize(index) {
    sizeIndex = Math.max(0, Math.min(SIZES.length - 1, index));
    document.body.style.setProperty("--mg-text", String(textScale()));
    byId("mg-size").textContent = `${Math.round(textScale() * 100)}%`;
    for (const state of built.values()) state.viewport = null;
    if (nav) render(currentPosition());
  }

  function present(on) {
    presentBox.checked = on;
    document.body.classList.toggle("mg-present", on);
    setSize(on ? Math.max(sizeIndex, PRESENT) : 0);
  }

  byId("mg-first").addEventListener("click", () => render(0));
  byId("mg-prev").addEventListener("click", () => render(currentPosition() - 1));
  byId("mg-next").addEventListener("click", () => render(currentPosition() + 1));
  byId("mg-last").addEventListener("click", () => render(Number(slider.max)));
  byId("mg-smaller").addEventListener("click", () => setSize(sizeIndex - 1));
  byId("mg-larger").addEventListener("click", () => setSize(sizeIndex + 1));
  presentBox.addEventListener("change", () => present(presentBox.checked));
  playButton.addEventListener("click", play);
  upButton.addEventListener("click", () => up());
  slider.addEventListener("input", () => render(Number(slider.value)));
  speed.addEventListener("change", () => {
    if (timer !== null) {
      stopPlaying();
      play();
    }
  });
  // Unticking "whole graph" comes back to the view it left.
  fitBox.addEventListener("change", () => {
    if (fitBox.checked) view.followed = view.viewport;
    view.viewport = fitBox.checked ? null : view.followed || null;
    render(currentPosition());
  });
  forwardBox.addEventListener("change", () => {
    // Keep the same backward step when the forward pass is added or removed;
    // from the start of backward, go to the start of forward.
    const n = data.views[0].forward.length;
    if (forwardBox.checked) render(stop === 0 ? 0 : stop + n);
    else render(stop);
  });
  const keys = {
    ArrowRight: () => render(currentPosition() + 1),
    ArrowLeft: () => render(currentPosition() - 1),
    Home: () => render(0),
    End: () => render(Number(slider.max)),
    Escape: () => up(),
    " ": play,
    "+": () => setSize(sizeIndex + 1),
    "=": () => setSize(sizeIndex + 1),
    "-": () => setSize(sizeIndex - 1),
    p: () => present(!presentBox.checked),
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

  // Start once the pane has a size -- in a notebook the frame can still be 0 x 0 here,
  // where nothing can be measured -- and follow the step again whenever it changes.
  let started = false;
  let pending = false;
  function sized() {
    pending = false;
    pane.w = graph.clientWidth;
    pane.h = graph.clientHeight;
    if (pane.w === 0 || pane.h === 0) return;
    if (!started) {
      started = true;
      forwardBox.checked = data.startForward;
      show(0);
      render(0); // the first forward step when the page starts with the forward pass
      return;
    }
    for (const state of built.values()) state.viewport = null;
    render(currentPosition());
  }
  const later = () => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(sized);
    }
  };
  if (window.ResizeObserver) new ResizeObserver(later).observe(graph);
  window.addEventListener("resize", later);
  if (/present/.test(window.location.hash)) present(true);
  sized();
})();
