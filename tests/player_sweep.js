// Sweeps a backprop player page in the browser: shows every stop of the view on screen
// (and, with arguments[0].drill, of every neuron's own view, opened by clicking the neuron
// and left with Escape) and measures each one on screen, after zoom and pan. Returns
// {stops, bad, problems}: how many stops were measured, how many had a problem, and the
// first problems found as [where, kind, detail].
//
// A stop is legible when the node whose rule runs, each input it updates (in a box of
// rows: the rows it updates) and the step's edge labels are inside the graph pane; no two
// edge labels overlap and none covers a node's text; every text the step is about is at
// least MIN_PX high; in a box of rows, the row of the step's neuron is marked; each name
// the side panel gives is one the graph shows; no number in the panel is broken across
// lines. Leaving a neuron's view with Escape must restore the slider, the position text
// and the crumbs as they were before the click.
"use strict";
const options = arguments[0] || {};
const MIN_PX = options.minPx || 11;
const SLACK = 1; // px of rounding allowed at the pane's edges
const data = JSON.parse(document.getElementById("mg-data").textContent);
const graph = document.getElementById("mg-graph");
const slider = document.getElementById("mg-slider");
const panel = document.getElementById("mg-panel");
const positionText = () => document.getElementById("mg-position").textContent;
const crumbsText = () => document.getElementById("mg-crumbs").textContent;
const problems = [];
const kinds = {}; // kind -> the number of stops with it
let stops = 0;
let bad = 0;

function slide(k) {
  slider.value = String(k);
  slider.dispatchEvent(new Event("input"));
}

function press(key) {
  document.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true }));
}

const rectOf = (el) => el.getBoundingClientRect();
const inside = (r, p) => r.left >= p.left - SLACK && r.right <= p.right + SLACK &&
  r.top >= p.top - SLACK && r.bottom <= p.bottom + SLACK;
const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
  Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
const texts = (el) => [...el.querySelectorAll("text")].filter((t) => t.textContent.trim());
const px = (text) => parseFloat(getComputedStyle(text).fontSize) * text.getScreenCTM().a;

// The view on screen and its stop: the page says which (data-view, data-stop); without a
// data-stop, the slider's position is the stop.
function shown() {
  const index = Number(graph.dataset.view);
  const view = data.views[index];
  const s = graph.dataset.stop !== undefined ? Number(graph.dataset.stop) : Number(slider.value);
  return { index, view, stop: view.stops[s] };
}

// A unit's grad lines, one per slot, as the page writes them: its last n "grad " lines.
function gradLines(view, svg, unit) {
  const el = svg.getElementById(view.units[unit]);
  const n = view.slots.filter(([u]) => u === unit).length;
  if (!el) return [];
  return texts(el).filter((t) => t.textContent.includes("grad ")).slice(-n);
}

// The names the graph shows: every line of text; the part before ':' of a box's rows, and
// box title + "." + row name; a module box's title also names what is inside it ("layers.2"
// holds "layers.2.neurons.0.w1"); a neuron's own view, titled as its crumb says, holds the
// rows and nodes its graph shows.
function shownNames(svg, view) {
  const names = new Set();
  const holders = new Set();
  if (view.parent !== null) holders.add(view.title);
  for (const node of svg.querySelectorAll("g.node")) {
    const lines = texts(node).map((t) => t.textContent.trim());
    lines.forEach((line) => names.add(line));
    if (lines.some((line) => /^\d+ params$/.test(line))) holders.add(lines[0]);
    const rows = lines.filter((line) => /^[^:]+: /.test(line)).map((line) => line.split(":")[0]);
    rows.forEach((row) => {
      names.add(row);
      names.add(`${lines[0]}.${row}`);
      if (view.parent !== null) names.add(`${view.title}.${row}`);
    });
  }
  return { names, holders };
}

// A panel name is shown when the graph shows it, or names a Value inside a shown neuron
// ("layers.1.neurons.4.dot" inside row "neurons.4" of box "layers.1") or module box.
function isShown(name, { names, holders }) {
  if (names.has(name)) return true;
  for (let n = name; n.includes("."); ) {
    n = n.slice(0, n.lastIndexOf("."));
    if (holders.has(n) || (names.has(n) && /\.neurons\.\d+$/.test(n))) return true;
  }
  return false;
}

function measure(where) {
  const found = [];
  const add = (kind, detail) => found.push([where, kind, detail]);
  const pane = rectOf(graph);
  const svg = graph.querySelector("svg");
  const { view, stop } = shown();
  const [g, from, unit] = stop;
  const updated = new Set();
  for (let k = from + 1; k <= g; k++) for (const [value] of data.steps[k].grads) updated.add(value);
  // What the stop is about: whole nodes, or in a box of rows its updated rows.
  const about = [];
  const current = svg.querySelectorAll("g.node.mg-current");
  if (unit >= 0 && !current.length) add("no current node", view.units[unit]);
  for (const el of svg.querySelectorAll("g.node.mg-current, g.node.mg-updated")) {
    const u = view.units.indexOf(el.id);
    const lines = u >= 0 ? gradLines(view, svg, u) : [];
    if (lines.length > 1) { // a box of rows
      const rows = view.slots.filter(([su]) => su === u).map(([, value]) => value);
      lines.forEach((line, k) => { if (updated.has(rows[k])) about.push([el.id, line]); });
      if (el.classList.contains("mg-current")) {
        const marked = el.querySelectorAll("text.mg-row-current");
        if (g - from === 1 && marked.length !== 1) add("current row not marked", el.id);
        for (const row of marked) about.push([el.id, row]);
      }
    } else {
      if (!inside(rectOf(el), pane)) add("node outside", el.id);
      for (const t of texts(el)) about.push([el.id, t]);
    }
  }
  for (const [id, t] of about) {
    if (!inside(rectOf(t), pane)) add("text outside", `${id}: ${t.textContent}`);
    const size = px(t);
    if (size < MIN_PX - 0.01) add("small text", `${id}: ${size.toFixed(1)} px`);
  }
  const labels = [...svg.querySelectorAll("text.mg-elabel")].filter((l) => l.textContent);
  const nodeTexts = [...svg.querySelectorAll("g.node text")].filter((t) => t.textContent.trim());
  const boxes = nodeTexts.map(rectOf);
  labels.forEach((label, i) => {
    const r = rectOf(label);
    if (!inside(r, pane)) add("label outside", label.textContent);
    const size = px(label);
    if (size < MIN_PX - 0.01) add("small label", `${label.textContent}: ${size.toFixed(1)} px`);
    for (const other of labels.slice(i + 1)) {
      if (overlap(r, rectOf(other))) {
        add("labels overlap", `${label.textContent} / ${other.textContent}`);
      }
    }
    boxes.forEach((b, k) => {
      if (overlap(r, b)) {
        add("label over text", `${label.textContent} / ${nodeTexts[k].textContent}`);
      }
    });
  });
  // The side panel: the names it gives, and numbers kept on one line.
  const text = panel.querySelector("#mg-text");
  const names = shownNames(svg, view);
  const said = [...text.children].map((line) => line.textContent).join("\n");
  const head = said.match(/^step \d+\/\d+ +(?:seed )?(.+?)(?:\.grad)? = /m);
  const targets = [...said.matchAll(/^ +(.+?)\.grad +\+=/gm)].map((m) => m[1]);
  for (const name of head ? [head[1], ...targets] : targets) {
    if (!isShown(name, names)) add("panel name not in graph", name);
  }
  const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const m of node.textContent.matchAll(/-?\d+(?:\.\d+)?(?:e[-+]\d+)?/g)) {
      if (m[0].length < 2) continue;
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (tops.size > 1) add("number split", m[0]);
    }
  }
  const panelPx = parseFloat(getComputedStyle(text).fontSize);
  if (panelPx < MIN_PX) add("small panel text", `${panelPx} px`);
  stops += 1;
  if (found.length) bad += 1;
  for (const kind of new Set(found.map((p) => p[1]))) kinds[kind] = (kinds[kind] || 0) + 1;
  problems.push(...found.slice(0, 3));
}

function sweep(name) {
  const count = Number(slider.max) + 1;
  for (let k = 0; k < count; k++) {
    slide(k);
    measure(`${name} ${k}`);
  }
}

const top = options.view || data.views[0].level;
sweep(top);
const perView = { [top]: [stops, bad] };
if (options.drill) {
  const at = Math.floor(Number(slider.max) / 3);
  slide(at);
  const links = [...graph.querySelectorAll(".mg-link")];
  const before = [slider.value, positionText(), crumbsText()];
  const start = [stops, bad];
  for (let i = 0; i < links.length; i++) {
    slide(at);
    const link = [...graph.querySelectorAll(".mg-link")][i];
    link.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    const opened = data.views[Number(graph.dataset.view)].title;
    sweep(opened);
    press("Escape");
    const after = [slider.value, positionText(), crumbsText()];
    if (after.join("|") !== before.join("|")) {
      problems.push([opened, "Escape did not come back", `${before} -> ${after}`]);
      kinds["Escape did not come back"] = (kinds["Escape did not come back"] || 0) + 1;
    }
  }
  perView.drill = [stops - start[0], bad - start[1]];
}
return { stops, bad, kinds, problems: problems.slice(0, 40), perView };
