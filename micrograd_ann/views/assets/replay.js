// Training replay: shows one recorded epoch of a History at a time. Every number and picture
// comes from replay.py's JSON (the plane's pictures are PNG images plane.py computed with the
// recorder's own forward pass): this script draws them and computes no forward pass.
// User text only ever goes through textContent.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("rp-data").textContent);
  const byId = (id) => document.getElementById(id);
  const SVGNS = "http://www.w3.org/2000/svg";
  const frames = data.frames;
  const nLayers = data.sizes.length;
  const TRAIN_COLOUR = "#1f2937";
  const TEST_COLOUR = "#9467bd";
  const slider = byId("rp-slider");
  const playButton = byId("rp-play");
  let current = -1;
  let timer = null;

  // ------------------------------------------------------------------ numbers

  // Python's f"{v:.{digits}g}": significant digits, trailing zeros dropped.
  function g(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "\u2013";
    if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
    if (v === 0) return "0";
    const [mant, exp] = v.toExponential(digits - 1).split("e");
    const e = Number(exp);
    if (e < -4 || e >= digits) {
      const m = mant.includes(".") ? mant.replace(/\.?0+$/, "") : mant;
      return `${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
    }
    return String(Number(v.toFixed(Math.max(0, digits - 1 - e))));
  }
  const percent = (v) => (v === null ? "\u2013" : `${(100 * v).toFixed(1)} %`);

  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const ticks = [];
    for (let t = Math.ceil(lo / step - 1e-9); t <= Math.floor(hi / step + 1e-9); t++) {
      ticks.push(Number((t * step).toPrecision(12)));
    }
    return ticks;
  }

  // White blended toward colour ([r, g, b]) by t in [0, 1].
  const mix = (colour, t) => colour.map((c) => Math.round(255 + t * (c - 255)));
  const POINTS = data.colours.points;

  // The frame whose pictures of the plane frame k shows: itself, or the nearest pictured
  // (-1: a model too large to picture shows none).
  const pictureOf = frames.map((_, k) => {
    let best = -1;
    frames.forEach((f, p) => {
      if (f.picture && (best < 0 || Math.abs(p - k) < Math.abs(best - k))) best = p;
    });
    return best;
  });

  // ------------------------------------------------------------ small SVG kit

  function el(name, attrs, parent, text) {
    const node = document.createElementNS(SVGNS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // A line chart over the recorded epochs: series [{values, colour, dash}], values may be
  // null (not recorded). Returns mark(k), which moves the epoch marker to frame k.
  function chart(svg, series, opts) {
    svg.textContent = "";
    const width = Number(svg.getAttribute("width"));
    const height = Number(svg.getAttribute("height"));
    const left = 46, right = 12, top = 18, bottom = 20;
    const x0 = frames[0].epoch, x1 = Math.max(frames[frames.length - 1].epoch, x0 + 1);
    const px = (e) => left + ((e - x0) / (x1 - x0)) * (width - left - right);
    const span = height - top - bottom;
    const py = (v) => height - bottom - ((v - opts.lo) / (opts.hi - opts.lo)) * span;
    el("rect", { x: left, y: top, width: width - left - right, height: height - top - bottom,
      fill: "#fff", stroke: "#9ca3af" }, svg);
    for (const t of niceTicks(opts.lo, opts.hi, 4)) {
      el("line", { x1: left, x2: width - right, y1: py(t), y2: py(t), stroke: "#eef0f3" }, svg);
      el("text", { x: left - 5, y: py(t) + 4, "text-anchor": "end", "font-size": 10,
        fill: "#4b5563" }, svg, opts.tick(t));
    }
    if (opts.guide !== undefined) {
      el("line", { x1: left, x2: width - right, y1: py(opts.guide), y2: py(opts.guide),
        stroke: "#16a34a", "stroke-dasharray": "5 3" }, svg);
    }
    for (const t of niceTicks(x0, x1, 6).filter(Number.isInteger)) { // epochs are whole
      el("text", { x: px(t), y: height - 6, "text-anchor": "middle", "font-size": 10,
        fill: "#4b5563" }, svg, String(t));
    }
    el("text", { x: left, y: top - 6, "font-size": 11, fill: "#374151", "font-weight": 600 },
      svg, opts.title);
    for (const s of series) {
      let d = "";
      s.values.forEach((v, k) => {
        if (v === null || !Number.isFinite(v)) return;
        d += `${d ? "L" : "M"}${px(frames[k].epoch).toFixed(1)},${py(v).toFixed(1)}`;
      });
      el("path", { d, fill: "none", stroke: s.colour, "stroke-width": 1.8,
        "stroke-dasharray": s.dash || "" }, svg);
    }
    const marker = el("line", { y1: top, y2: height - bottom, stroke: "#dc2626",
      "stroke-width": 1.5, class: "rp-marker" }, svg);
    const dots = series.map((s) => el("circle", { r: 3.5, fill: s.colour,
      stroke: "#fff", "stroke-width": 1 }, svg));
    return (k) => {
      const x = px(frames[k].epoch);
      marker.setAttribute("x1", x);
      marker.setAttribute("x2", x);
      series.forEach((s, i) => {
        const v = s.values[k];
        const shown = v !== null && Number.isFinite(v);
        dots[i].setAttribute("visibility", shown ? "visible" : "hidden");
        if (shown) {
          dots[i].setAttribute("cx", x);
          dots[i].setAttribute("cy", py(v));
        }
      });
    };
  }

  // -------------------------------------------------------------- loss curves

  const hasTest = data.testClasses.length > 0;
  const lossValues = frames.map((f) => f.loss);
  const highest = Math.max(...lossValues.flat().filter((v) => v !== null && Number.isFinite(v)));
  const markLoss = chart(byId("rp-loss"), [
    { values: lossValues.map((v) => v[0]), colour: TRAIN_COLOUR },
    ...(hasTest ? [{ values: lossValues.map((v) => v[1]), colour: TEST_COLOUR, dash: "5 3" }] : []),
  ], { lo: 0, hi: highest > 0 ? highest * 1.05 : 1, tick: (t) => g(t, 3),
    title: "loss, by epoch" });
  const markAccuracy = chart(byId("rp-accuracy"), [
    { values: frames.map((f) => f.accuracy[0]), colour: TRAIN_COLOUR },
    ...(hasTest
      ? [{ values: frames.map((f) => f.accuracy[1]), colour: TEST_COLOUR, dash: "5 3" }] : []),
  ], { lo: 0, hi: 1, tick: (t) => `${Math.round(100 * t)} %`, title: "accuracy" });

  function showReadout(frame) {
    const box = byId("rp-readout");
    box.textContent = "";
    const item = (id, label, value, shown) => {
      const span = document.createElement("span");
      span.id = id;
      span.dataset.value = value === null ? "nan" : String(value);
      span.textContent = shown;
      box.append(`${label} `, span, "   ");
    };
    item("rp-train-loss", "train loss", frame.loss[0], g(frame.loss[0], 4));
    if (hasTest) item("rp-test-loss", "\u00b7 test loss", frame.loss[1], g(frame.loss[1], 4));
    box.append(document.createElement("br"));
    item("rp-train-accuracy", "train accuracy", frame.accuracy[0], percent(frame.accuracy[0]));
    if (hasTest) {
      item("rp-test-accuracy", "\u00b7 test accuracy", frame.accuracy[1],
        percent(frame.accuracy[1]));
    }
  }

  // ------------------------------------------------------- decision boundary

  const plane = data.kind === "plane";
  const [X0, X1, Y0, Y1] = plane ? data.extent : [0, 1, 0, 1];
  const canvas = byId("rp-boundary");
  const PAD_LEFT = 34, PAD_BOTTOM = 22, CELLS = 75;
  const plotW = canvas.width - PAD_LEFT - 4, plotH = canvas.height - PAD_BOTTOM - 4;
  const toPx = (x) => PAD_LEFT + ((x - X0) / (X1 - X0)) * plotW;
  const toPy = (y) => 4 + (1 - (y - Y0) / (Y1 - Y0)) * plotH;
  // Each pictured frame's boundary as an image, decoded while the page loads.
  const boundaries = frames.map((f) => {
    if (!f.picture) return null;
    const image = new Image();
    image.src = f.picture.boundary;
    return image;
  });

  function drawBoundary(k) {
    const frame = frames[k];
    const pictured = pictureOf[k] < 0 ? null : frames[pictureOf[k]];
    const image = pictured && boundaries[pictureOf[k]];
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!image) {
      ctx.fillStyle = "#f9fafb";
      ctx.fillRect(PAD_LEFT, 4, plotW, plotH);
    } else if (image.complete) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(image, PAD_LEFT, 4, plotW, plotH);
    } else { // drawn again once it has loaded, if still on show
      image.addEventListener("load", () => { if (current === k) drawBoundary(k); },
        { once: true });
    }
    ctx.strokeStyle = "#9ca3af";
    ctx.strokeRect(PAD_LEFT + 0.5, 4.5, plotW, plotH);
    ctx.fillStyle = "#4b5563";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "center";
    for (const t of data.ticks[0]) {
      ctx.fillText(String(t), toPx(t), canvas.height - PAD_BOTTOM + 14);
    }
    ctx.textAlign = "right";
    for (const t of data.ticks[1]) ctx.fillText(String(t), PAD_LEFT - 4, toPy(t) + 3);
    ctx.textAlign = "left";
    ctx.fillText("x0 \u2192", PAD_LEFT + plotW - 26, canvas.height - 3);
    ctx.save();
    ctx.translate(9, 34);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "right";
    ctx.fillText("x1 \u2192", 0, 0);
    ctx.restore();
    // Train points are crossed by the pictured model's predictions, so crosses and colours
    // agree; test points by this epoch's.
    drawPoints(ctx, data.train, data.trainClasses, pictured && pictured.picture.train, false);
    drawPoints(ctx, data.test, data.testClasses, frame.testPredictions, true);
    byId("rp-plane-epoch").textContent = !pictured || pictured === frame ? ""
      : `The plane as of epoch ${pictured.epoch}, the nearest pictured.`;
  }

  function drawPoints(ctx, points, classes, predicted, test) {
    points.forEach(([x, y], i) => {
      const colour = data.colours.points[classes[i] % POINTS.length];
      const cx = toPx(x), cy = toPy(y);
      ctx.beginPath();
      ctx.arc(cx, cy, test ? 4.2 : 3.6, 0, 2 * Math.PI);
      ctx.fillStyle = test ? "#fff" : colour;
      ctx.fill();
      ctx.lineWidth = test ? 2.4 : 0.8;
      ctx.strokeStyle = test ? colour : "#111827";
      ctx.stroke();
      if (predicted && predicted[i] !== classes[i]) { // a cross on what this epoch gets wrong
        ctx.beginPath();
        ctx.moveTo(cx - 5, cy - 5);
        ctx.lineTo(cx + 5, cy + 5);
        ctx.moveTo(cx + 5, cy - 5);
        ctx.lineTo(cx - 5, cy + 5);
        ctx.lineWidth = 1.6;
        ctx.strokeStyle = "#111827";
        ctx.stroke();
      }
    });
  }

  function boundaryLegend() {
    const box = byId("rp-boundary-legend");
    for (let c = 0; c < data.classes; c++) {
      const dot = document.createElement("span");
      dot.className = "rp-dot";
      dot.style.background = data.colours.points[c % POINTS.length];
      box.append(dot, `class ${c}`);
    }
    box.append(document.createElement("br"));
    const train = document.createElement("span");
    train.className = "rp-dot";
    train.style.background = "#6b7280";
    const test = document.createElement("span");
    test.className = "rp-dot";
    test.style.border = "2.4px solid #6b7280";
    box.append(train, "train", test, "test (held out)", "  \u00d7 wrong at this epoch");
    box.append(document.createElement("br"),
      "background: the class predicted there, deeper where the network is surer");
    if (data.pictureNote) box.append(document.createElement("br"), data.pictureNote);
  }

  // ------------------------------------------------------------- the network

  const networkSvg = byId("rp-network").querySelector("svg");
  const lineEls = [];
  for (let i = 0; i < nLayers; i++) {
    const group = networkSvg.querySelector(`g.mg-weights[data-layer="${i}"]`);
    const nin = i === 0 ? data.nin : data.sizes[i - 1];
    const lines = new Array(nin * data.sizes[i]);
    for (const line of group.querySelectorAll("line")) {
      lines[Number(line.dataset.neuron) * nin + Number(line.dataset.input)] = line;
    }
    lineEls.push(lines.filter(Boolean)); // the lines drawn, in the order of frame.lines
  }
  const boxes = [...networkSvg.querySelectorAll("g.mg-neuron")].map((box) => {
    const [, layer, , neuron] = box.dataset.name.split(".");
    return { box, layer: Number(layer), neuron: Number(neuron),
      bias: box.querySelectorAll("tspan")[1], title: box.querySelector("title") };
  });
  for (const text of networkSvg.querySelectorAll(":scope > text")) {
    if (text.textContent.startsWith("box:")) text.remove(); // the page's legend says it
  }

  // The squares: each unit's output over the input plane, left of its box (2-D data). One
  // picture per frame holds every square side by side (the inputs, then each layer's units
  // in order); each square shows its part of it.
  const tiles = [];
  if (plane && frames.some((f) => f.picture)) {
    const T = data.tile;
    const count = data.nin + data.sizes.reduce((a, b) => a + b, 0);
    const first = [0];
    data.sizes.forEach((n, i) => first.push(first[i] + n)); // each layer's first unit
    // From the boxes' attributes: in a notebook this can run in a frame of 0 x 0, where
    // every measured box is empty.
    const top = (group) => Number(group.querySelector("rect").getAttribute("y"));
    const pitch = (column) => (column.length > 1 ? Math.abs(top(column[1]) - top(column[0])) : 40);
    const place = (group, slot, size) => {
      const rect = group.querySelector("rect");
      const x = Number(rect.getAttribute("x")) - size - 3;
      const y = Number(rect.getAttribute("y")) + Number(rect.getAttribute("height")) / 2 - size / 2;
      const view = el("svg", { x, y, width: size, height: size, class: "rp-tile",
        viewBox: `${slot * T} 0 ${T} ${T}`, preserveAspectRatio: "none" }, networkSvg);
      tiles.push(el("image", { x: 0, y: 0, width: T * count, height: T }, view));
      el("rect", { x, y, width: size, height: size, fill: "none", stroke: "#9ca3af",
        "stroke-width": 0.6 }, networkSvg);
      return x;
    };
    const inputs = [...networkSvg.querySelectorAll("g.mg-input")];
    let leftmost = 0;
    const inputSize = Math.max(12, Math.min(30, pitch(inputs) - 4));
    inputs.forEach((group, j) => { leftmost = Math.min(leftmost, place(group, j, inputSize)); });
    for (let i = 0; i < nLayers; i++) {
      const column = boxes.filter((b) => b.layer === i);
      const size = Math.max(12, Math.min(30, pitch(column.map((b) => b.box)) - 4));
      for (const b of column) {
        leftmost = Math.min(leftmost, place(b.box, data.nin + first[i] + b.neuron, size));
      }
    }
    const [vx, vy, vw, vh] = networkSvg.getAttribute("viewBox").split(" ").map(Number);
    const grow = Math.max(0, vx - leftmost + 4);
    networkSvg.setAttribute("viewBox", `${vx - grow} ${vy} ${vw + grow} ${vh}`);
    networkSvg.setAttribute("width", vw + grow);
  }

  function drawTiles(k) {
    if (!tiles.length) return;
    const url = frames[pictureOf[k]].picture.tiles;
    for (const image of tiles) image.setAttribute("href", url);
  }

  function showNetwork(frame) {
    frame.lines.forEach((layer, i) => {
      layer.forEach(([colour, width, opacity], n) => {
        const line = lineEls[i][n];
        line.setAttribute("stroke", data.palette[colour]);
        line.setAttribute("stroke-width", width);
        line.setAttribute("stroke-opacity", opacity);
      });
    });
    for (const b of boxes) {
      b.bias.textContent = g(weight(frame, b.layer, b.neuron, -1), 3);
      b.box.classList.toggle("rp-dead", isDead(frame, b.layer, b.neuron));
    }
    byId("rp-network-title").textContent = `The network after epoch ${frame.epoch}`;
  }

  const isDead = (frame, i, j) => Boolean(frame.layers && (frame.layers[i].dead || []).includes(j));

  // Hover texts are written when hovered: thousands of lines need not be relabelled per epoch.
  networkSvg.addEventListener("mouseover", (event) => {
    const frame = frames[current];
    const line = event.target.closest("line[data-neuron]");
    if (line) {
      const i = Number(line.parentNode.dataset.layer);
      const j = Number(line.dataset.neuron), k = Number(line.dataset.input);
      line.querySelector("title").textContent =
        `layers.${i}.neurons.${j}.w.${k} = ${g(weight(frame, i, j, k), 6)}`;
    }
    const box = boxes.find((b) => b.box.contains(event.target));
    if (box) {
      const dead = isDead(frame, box.layer, box.neuron);
      box.title.textContent = `${box.box.dataset.name} (${data.activations[box.layer]}): ` +
        `bias ${g(weight(frame, box.layer, box.neuron, -1), 6)}` +
        (dead ? ` -- a dead ${data.layers[box.layer].title} this epoch: ` +
          `${data.layers[box.layer].off} for every training sample` : "");
    }
  });

  // Parameter of layer i, neuron j: weight k, or the bias for k = -1.
  const offsets = [];
  (function () {
    let at = 0, nin = data.nin;
    for (let i = 0; i < nLayers; i++) {
      offsets.push({ at, nin });
      at += data.sizes[i] * (nin + 1);
      nin = data.sizes[i];
    }
  })();
  function weight(frame, i, j, k) {
    const { at, nin } = offsets[i];
    return frame.params[at + j * (nin + 1) + (k < 0 ? nin : k)];
  }

  function networkLegend() {
    const box = byId("rp-network-legend");
    box.textContent = "box: a neuron and its bias b; grey dashed: a dead unit this epoch " +
      "(off for every training sample, so no gradient flows through it).";
    if (tiles.length) box.append(document.createElement("br"), data.squaresLegend);
  }

  // -------------------------------------------------------------- diagnostics

  const LAYER_COLOURS = data.colours.points;
  const recorded = frames.map((f) => f.layers);
  const logNorms = (i) => recorded.map((ls) => (
    ls && ls[i].grad_norm > 0 ? Math.log10(ls[i].grad_norm) : null));
  const ratios = (i) => recorded.map((ls) => (ls ? ls[i].update_ratio : null));

  function range(series, pad) {
    const all = series.flat().filter((v) => v !== null && Number.isFinite(v));
    if (!all.length) return [0, 1];
    const lo = Math.min(...all), hi = Math.max(...all);
    return hi > lo ? [lo - pad, hi + pad] : [lo - 1, hi + 1];
  }
  const layerIndices = [...Array(nLayers).keys()];
  const normSeries = layerIndices.map(logNorms);
  const ratioSeries = layerIndices.map(ratios);
  const [normLo, normHi] = range(normSeries, 0.3);
  const [ratioLo, ratioHi] = range([...ratioSeries, [-3]], 0.3);
  const markNorm = chart(byId("rp-gradnorm"), normSeries.map((values, i) => (
    { values, colour: LAYER_COLOURS[i % LAYER_COLOURS.length] })),
  { lo: normLo, hi: normHi, tick: (t) => g(10 ** t, 2), title: "weight-gradient norm" });
  const markRatio = chart(byId("rp-ratio"), ratioSeries.map((values, i) => (
    { values, colour: LAYER_COLOURS[i % LAYER_COLOURS.length] })),
  { lo: ratioLo, hi: ratioHi, tick: (t) => String(t), guide: -3, title: "log10 update / data" });

  function histogram(hist, opts) {
    const svg = el("svg", { width: 190, height: 58, class: "rp-hist" });
    const counts = hist.counts;
    const tallest = Math.max(1, ...counts.filter((_, b) => !(opts.clipped || []).includes(b)));
    const barW = 180 / counts.length;
    counts.forEach((n, b) => {
      const h = Math.min(1, n / tallest) * 40;
      const centre = hist.lo + ((b + 0.5) / counts.length) * (hist.hi - hist.lo);
      el("rect", { x: 5 + b * barW, y: 44 - h, width: Math.max(1, barW - 1), height: h,
        fill: opts.colour(centre, b) }, svg).appendChild(el("title", {}, null, `${n}`));
    });
    el("line", { x1: 5, x2: 185, y1: 44.5, y2: 44.5, stroke: "#9ca3af" }, svg);
    el("text", { x: 5, y: 56, "font-size": 10, fill: "#4b5563" }, svg, g(hist.lo, 3));
    el("text", { x: 185, y: 56, "font-size": 10, fill: "#4b5563", "text-anchor": "end" },
      svg, g(hist.hi, 3));
    if (opts.note) {
      el("text", { x: 95, y: 56, "font-size": 10, fill: "#6b7280", "text-anchor": "middle" },
        svg, opts.note);
    }
    return svg;
  }

  const BAR_COLOURS = { o: "#9ca3af", s: "#d97706", ".": "#60a5fa" };

  // Which column of the layer table each kind of warning is about.
  const WARNED_COLUMN = { dead: 3, saturated: 3, vanishing: 4, "large steps": 5,
    "small steps": 5 };

  function showLayers(frame) {
    const table = byId("rp-layers");
    table.textContent = "";
    const head = table.insertRow();
    for (const title of ["layer", "outputs (activations)", "gradients d loss / d output",
      "dead or saturated", "|d loss / d w|", "log10 update / data"]) {
      const th = document.createElement("th");
      th.textContent = title;
      head.appendChild(th);
    }
    if (!frame.layers) {
      const cell = table.insertRow().insertCell();
      cell.colSpan = 6;
      cell.textContent = "Epoch 0 is the untrained network: no step has run yet, so there " +
        "are no gradients. Move to a later epoch.";
      return;
    }
    frame.layers.forEach((stats, i) => {
      const name = `layers.${i}`;
      const activation = data.activations[i];
      const info = data.layers[i];
      const row = table.insertRow();
      row.dataset.layer = String(i);
      const first = row.insertCell();
      first.innerHTML = "<b></b><br><span class='rp-sub'></span>";
      first.querySelector("b").textContent = name;
      first.querySelector("b").style.color = LAYER_COLOURS[i % LAYER_COLOURS.length];
      first.querySelector("span").textContent = `${data.sizes[i]} ${activation}`;
      // Python says what each bar is: "o" off (grey, left out of the scale), "s" saturated.
      const offBars = [...stats.bars].flatMap((kind, b) => (kind === "o" ? [b] : []));
      row.insertCell().appendChild(histogram(stats.activations, {
        clipped: offBars,
        note: info.histogramNote,
        colour: (v, b) => BAR_COLOURS[stats.bars[b]],
      }));
      row.insertCell().appendChild(histogram(stats.gradients, {
        colour: () => "#a78bfa", note: "",
      }));
      const status = row.insertCell();
      status.className = "rp-num";
      const line = (text, cls) => {
        const span = document.createElement("span");
        span.className = cls;
        span.textContent = text;
        if (status.childNodes.length) status.append(document.createElement("br"));
        status.append(span);
      };
      if (stats.dead !== null) {
        line(`dead: ${stats.dead.length} of ${data.sizes[i]}`, "rp-dead-count");
        if (stats.dead.length) line(`neurons ${stats.dead.join(", ")}`, "rp-sub rp-dead-units");
        line(`off (${info.off}) for ${percent(stats.flat)} of outputs`, "rp-sub");
      } else if (stats.flat !== null) {
        line(`saturated: ${percent(stats.flat)}`, "rp-saturated");
      } else {
        line("\u2013", "rp-sub");
      }
      const norm = row.insertCell();
      norm.className = "rp-num";
      norm.textContent = g(stats.grad_norm, 3);
      const ratio = row.insertCell();
      ratio.className = "rp-num";
      ratio.textContent = stats.update_ratio === null ? "no step" : stats.update_ratio.toFixed(2);
    });
    for (const warning of frame.warnings) {
      for (const i of warning.layers) {
        const cell = table.rows[i + 1].cells[WARNED_COLUMN[warning.kind]];
        cell.classList.add("rp-bad");
        cell.title = warning.text;
      }
    }
  }

  function showHints(frame) {
    const list = byId("rp-hints");
    list.textContent = "";
    const add = (text, cls) => {
      const li = document.createElement("li");
      li.className = cls;
      li.textContent = text;
      list.appendChild(li);
    };
    if (!frame.layers) {
      add("Epoch 0: the untrained network. Diagnostics start with the first epoch.", "rp-ok");
    } else if (!frame.warnings.length) {
      add(`\u2713 No warning signs in epoch ${frame.epoch}: no layer is dead, saturated or ` +
        "starved of gradient, and steps are of a healthy size.", "rp-ok");
    }
    for (const warning of frame.warnings) add(warning.text, "rp-warn");
  }

  // ---------------------------------------------------------------- digits

  function showDigits(frame) {
    const box = byId("rp-digits");
    if (!box.childElementCount) {
      data.images.forEach((pixels) => {
        const figure = document.createElement("figure");
        const c = document.createElement("canvas");
        [c.height, c.width] = data.shape;
        const ctx = c.getContext("2d");
        const image = ctx.createImageData(c.width, c.height);
        pixels.forEach((v, n) => {
          const shade = Math.round(255 * (1 - Math.min(1, Math.max(0, v))));
          image.data.set([shade, shade, shade, 255], 4 * n);
        });
        ctx.putImageData(image, 0, 0);
        figure.append(c, document.createElement("figcaption"));
        box.appendChild(figure);
      });
    }
    [...box.children].forEach((figure, s) => {
      const truth = data.testClasses[s], guess = frame.testPredictions[s];
      const caption = figure.querySelector("figcaption");
      caption.textContent = guess === truth ? `${guess}` : `${guess} (${truth})`;
      caption.className = guess === truth ? "" : "rp-wrong";
    });
  }

  function showConfusion(frame) {
    const n = data.classes;
    const counts = Array.from({ length: n }, () => new Array(n).fill(0));
    frame.testPredictions.forEach((p, s) => { counts[data.testClasses[s]][p] += 1; });
    const table = document.createElement("table");
    const head = table.insertRow();
    const corner = head.appendChild(document.createElement("th"));
    corner.textContent = "true \\ predicted";
    corner.className = "rp-corner";
    for (let c = 0; c < n; c++) head.appendChild(document.createElement("th")).textContent = c;
    counts.forEach((row, t) => {
      const tr = table.insertRow();
      tr.appendChild(document.createElement("th")).textContent = t;
      const total = row.reduce((a, b) => a + b, 0) || 1;
      row.forEach((count, p) => {
        const td = tr.insertCell();
        td.textContent = count || "";
        const share = count / total;
        const right = p === t; // green on the diagonal; red, deeper sooner, off it
        const [r, gr, b] = mix(right ? [22, 163, 74] : [220, 38, 38],
          right ? share : Math.min(1, 3 * share));
        td.style.background = `rgb(${r},${gr},${b})`;
        td.style.color = share > 0.6 ? "#fff" : "#111827";
      });
    });
    const box = byId("rp-confusion");
    box.textContent = "";
    box.appendChild(table);
  }

  // ------------------------------------------------------------ one epoch

  function show(k) {
    const start = performance.now();
    k = Math.max(0, Math.min(frames.length - 1, k));
    current = k;
    const frame = frames[k];
    slider.value = String(k);
    byId("rp-epoch").textContent = `epoch ${frame.epoch} of ${frames[frames.length - 1].epoch}`;
    showReadout(frame);
    markLoss(k);
    markAccuracy(k);
    markNorm(k);
    markRatio(k);
    if (plane) {
      drawBoundary(k);
      drawTiles(k);
    } else if (data.kind === "image") {
      showDigits(frame);
      showConfusion(frame);
    }
    showNetwork(frame);
    showHints(frame);
    showLayers(frame);
    api.lastMs = performance.now() - start;
  }

  // -------------------------------------------------------------- controls

  function stop() {
    clearInterval(timer);
    timer = null;
    playButton.textContent = "\u25B6 play";
  }

  function play() {
    if (timer !== null) return stop();
    if (current === frames.length - 1) show(0);
    playButton.textContent = "\u275A\u275A pause";
    timer = setInterval(() => {
      if (current >= frames.length - 1) return stop();
      show(current + 1);
    }, 1000 / Number(byId("rp-speed").value));
  }

  slider.max = String(frames.length - 1);
  slider.addEventListener("input", () => { stop(); show(Number(slider.value)); });
  playButton.addEventListener("click", play);
  byId("rp-first").addEventListener("click", () => { stop(); show(0); });
  byId("rp-prev").addEventListener("click", () => { stop(); show(current - 1); });
  byId("rp-next").addEventListener("click", () => { stop(); show(current + 1); });
  byId("rp-last").addEventListener("click", () => { stop(); show(frames.length - 1); });
  byId("rp-speed").addEventListener("change", () => { if (timer !== null) { stop(); play(); } });
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "SELECT") return;
    const moves = { ArrowLeft: -1, ArrowRight: 1 };
    if (event.key in moves) {
      stop();
      show(current + moves[event.key]);
    } else if (event.key === "Home") {
      stop();
      show(0);
    } else if (event.key === "End") {
      stop();
      show(frames.length - 1);
    } else if (event.key === " ") {
      play();
    } else {
      return;
    }
    event.preventDefault();
  });

  // For tests and the curious: show an epoch, and which is on show.
  const api = {
    show,
    get frame() { return current; },
    lastMs: 0,
  };
  window.replay = api;

  if (!hasTest) byId("rp-test-legend").remove();
  byId("rp-title").textContent = data.title;
  byId("rp-info").textContent = data.info;
  if (data.note) byId("rp-info").append(document.createElement("br"), data.note);
  byId("rp-plane-card").hidden = !plane;
  byId("rp-digits-card").hidden = byId("rp-confusion-card").hidden = data.kind !== "image";
  if (plane) boundaryLegend();
  networkLegend();
  show(frames.length - 1);
})();
