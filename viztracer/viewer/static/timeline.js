// The timeline: one canvas, a lane per process / thread / counter, zoom and pan, hit testing.
//
// Drawing cost is bounded by what is visible: each (track, depth) row is a start-sorted run of
// slices, found by binary search; slices narrower than a pixel are merged with every other slice
// that starts in the same pixel (found by binary search too), so a frame costs about
// rows x pixels whatever the trace's size.
"use strict";
var VT = (window.VT = window.VT || {});

VT.L = { AXIS_H: 26, LABEL_W: 200, ROW_H: 18, PROC_H: 20, INST_H: 14, COUNTER_H: 50, GAP: 6 };

VT.timeline = (function () {
  const L = VT.L;
  let canvas, ctx, m, st;
  let lanes = [];
  let contentH = 0;
  let nameCss = [], color32 = null, faded32 = null;
  let pending = false;
  let mouse = null; // last pointer position over the canvas, CSS px

  function init(model, state) {
    m = model;
    st = state;
    canvas = document.getElementById("timeline");
    ctx = canvas.getContext("2d");
    nameCss = m.names.map(function (n) { return VT.cssOf(VT.rgbOf(n)); });
    color32 = new Uint32Array(m.names.map(function (n) { return rgba32(VT.rgbOf(n)); }));
    faded32 = new Uint32Array(m.names.map(function (n) { return rgba32(VT.faded(VT.rgbOf(n))); }));
    layoutLanes();
    bindEvents();
    resize();
  }

  // Lanes from the top: global instants (when there are any), then per process (in the order
  // of meta.processes: by sort index, else parent first) its header band (with its
  // process-scope instants, and its mark when it was cut short or lost), its threads and task
  // lanes (thread-scope instants over the slices; in meta.track_order) and its counters (a
  // graph per series); a process with none of those gets one empty lane saying so. A lane's
  // `inst` is its run of instants, {first, count}.
  function layoutLanes() {
    lanes = [];
    let y = 0;
    const meta = m.meta;
    if (m.globalInst.count) {
      lanes.push({ kind: "global", label: "Global instants", y: y, h: L.PROC_H, inst: m.globalInst, instH: L.PROC_H });
      y += L.PROC_H;
    }
    for (const proc of meta.processes) {
      const pinst = m.processInst[proc.pid] || null;
      const mark = VT.processMark(proc);
      lanes.push({ kind: "process", pid: proc.pid, label: proc.name + " (pid " + proc.pid + ")", y: y, h: L.PROC_H,
        inst: pinst, instH: pinst ? L.PROC_H : 0, mark: mark.text, state: mark.state });
      y += L.PROC_H;
      const first = lanes.length;
      for (const ti of meta.track_order) {
        const t = m.tracks[ti];
        if (t.pid !== proc.pid) continue;
        const instH = t.instCount ? L.INST_H : 0;
        const h = instH + Math.max(1, t.rows.length) * L.ROW_H + L.GAP;
        lanes.push({ kind: "thread", track: ti, pid: proc.pid, label: VT.threadLabel(t), y: y, h: h, instH: instH,
          inst: t.instCount ? { first: t.instFirst, count: t.instCount } : null });
        y += h;
      }
      meta.counters.forEach(function (c, ci) {
        if (c.pid !== proc.pid) return;
        const h = Math.max(1, c.series.length) * L.COUNTER_H + L.GAP;
        lanes.push({ kind: "counter", counter: ci, pid: proc.pid, label: c.name, y: y, h: h });
        y += h;
      });
      if (lanes.length === first) {
        const text = mark.state === "lost" ? "no data arrived from this process" : "no events";
        lanes.push({ kind: "empty", pid: proc.pid, label: "", text: text, state: mark.state, y: y,
          h: L.ROW_H + L.GAP, instH: 0 });
        y += L.ROW_H + L.GAP;
      }
    }
    contentH = y;
  }

  function resize() {
    const box = canvas.parentElement.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(300, Math.floor(box.width));
    const h = Math.max(150, Math.floor(box.height));
    canvas.style.width = w + "px";
    canvas.style.height = h + "px";
    canvas.width = Math.floor(w * dpr);
    canvas.height = Math.floor(h * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    clampScroll();
    requestDraw();
  }

  function plotWidth() {
    return canvas.clientWidth - L.LABEL_W;
  }

  function requestDraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
      pending = false;
      draw();
    });
  }

  // Slices are painted into a pixel buffer (one Uint32 per device pixel) and put on the canvas
  // in one call: a frame of a big trace has tens of thousands of boxes, one or two pixels wide,
  // and filling them in a typed array is many times cheaper than a fillRect each.
  // Text, outlines, instants and counters are drawn over it with the canvas API.
  let img = null, buf = null, bw = 0, bh = 0, dpr = 1;
  let labels = [];   // text, x, y, dim
  let outlines = []; // x, y, w, h: search matches
  // What the frame drew, 10 numbers a box (slice, x, y, width, height, merged, count, track,
  // depth, name); turned into objects only when the debug hook asks.
  const REC = 10;
  let rec = new Float64Array(REC * 4096), recN = 0;
  // A tiled trace (m.tiled): the tiles the last frame drew from, {level, tiles, missing}.
  let frameTiles = null;

  function rgba32(rgb) {
    return ((255 << 24) | (rgb[2] << 16) | (rgb[1] << 8) | rgb[0]) >>> 0;
  }
  const WHITE = rgba32([255, 255, 255]), GRID = rgba32([0xee, 0xf0, 0xf3]), BAND = rgba32([0xe8, 0xeb, 0xf0]);
  const COUNTER_BG = rgba32([0xf7, 0xf9, 0xfc]);
  // A process header's band, its label cell and its mark's text, by the process's state: a
  // child cut short is amber, a lost one red, so they stand out of a long list of processes.
  const HEADER = {
    normal: { band: BAND, cell: "#e8ebf0", text: "#222", mark: "#555" },
    cut: { band: rgba32([0xfc, 0xe8, 0xc0]), cell: "#fce8c0", text: "#5c3d00", mark: "#8a5300" },
    lost: { band: rgba32([0xf8, 0xd7, 0xd5]), cell: "#f8d7d5", text: "#6e1510", mark: "#a3211a" },
  };
  function headerStyle(lane) {
    return HEADER[lane.state] || HEADER.normal;
  }

  function ensureBuffer(pw, ph) {
    dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(pw * dpr)), h = Math.max(1, Math.round(ph * dpr));
    if (!img || img.width !== w || img.height !== h) {
      img = ctx.createImageData(w, h);
      buf = new Uint32Array(img.data.buffer);
    }
    bw = w;
    bh = h;
  }

  // Fill a rectangle given in CSS px relative to the plot's top-left corner.
  function fill(x, y, w, h, c) {
    let x0 = Math.round(x * dpr), x1 = Math.round((x + w) * dpr);
    if (x1 <= x0) x1 = x0 + 1;
    if (x0 < 0) x0 = 0;
    if (x1 > bw) x1 = bw;
    if (x0 >= x1) return;
    let y0 = Math.round(y * dpr), y1 = Math.round((y + h) * dpr);
    if (y0 < 0) y0 = 0;
    if (y1 > bh) y1 = bh;
    if (x1 - x0 <= 4) {
      for (let yy = y0; yy < y1; yy++) {
        const o = yy * bw;
        for (let xx = x0; xx < x1; xx++) buf[o + xx] = c;
      }
    } else {
      for (let yy = y0; yy < y1; yy++) buf.fill(c, yy * bw + x0, yy * bw + x1);
    }
  }

  function record(i, x, y, w, h, merged, count, track, depth, name) {
    if ((recN + 1) * REC > rec.length) {
      const bigger = new Float64Array(rec.length * 2);
      bigger.set(rec);
      rec = bigger;
    }
    const o = recN * REC;
    rec[o] = i; rec[o + 1] = x; rec[o + 2] = y; rec[o + 3] = w; rec[o + 4] = h;
    rec[o + 5] = merged; rec[o + 6] = count; rec[o + 7] = track; rec[o + 8] = depth; rec[o + 9] = name;
    recN++;
  }

  function drawnList() {
    const out = [];
    for (let k = 0; k < recN; k++) {
      const o = k * REC, i = rec[o];
      const d = { i: i, name: m.names[rec[o + 9]], track: rec[o + 7], depth: rec[o + 8], x: rec[o + 1], y: rec[o + 2],
        width: rec[o + 3], height: rec[o + 4], merged: rec[o + 5] === 1 };
      if (d.merged) d.count = rec[o + 6];
      out.push(d);
    }
    return out;
  }

  function box(color, x, y, w, h) {
    fill(x - L.LABEL_W, y - L.AXIS_H, w, h, color);
  }

  function draw() {
    const t0 = performance.now();
    const W = canvas.clientWidth, H = canvas.clientHeight;
    const v0 = st.view.start, v1 = st.view.end;
    const pw = W - L.LABEL_W;
    const scale = pw / (v1 - v0);
    const instants = [], counters = [];
    const search = st.search && st.search.active ? st.search : null;
    recN = 0;
    labels = [];
    outlines = [];
    ensureBuffer(pw, H - L.AXIS_H);
    buf.fill(WHITE);
    for (const t of ticks(v0, v1, scale).list) fill(Math.round((t - v0) * scale), 0, 1 / dpr, H, GRID);
    const shown = [];
    // A tiled trace draws its rows from the tiles of the view's level (asked for when missing).
    frameTiles = m.tiled ? VT.tiles.forView(v0, v1, scale, m.end) : null;
    st.tilesMissing = frameTiles ? frameTiles.missing : 0;
    st.tileLevel = frameTiles ? frameTiles.level : null;
    const whole = m.tiled ? null : { S: m.start, D: m.dur, N: m.name, C: null, P: null, F: null };
    for (const lane of lanes) {
      const y = L.AXIS_H + lane.y - st.scrollY;
      if (y + lane.h < L.AXIS_H || y > H) continue;
      shown.push([lane, y]);
      if (lane.kind === "process" || lane.kind === "global") {
        box(headerStyle(lane).band, L.LABEL_W, y, pw, L.PROC_H);
      } else if (lane.kind === "empty") {
        continue;
      } else if (lane.kind === "thread") {
        const t = m.tracks[lane.track];
        for (let d = 0; d < t.rows.length; d++) {
          const ry = y + lane.instH + d * L.ROW_H;
          if (ry + L.ROW_H < L.AXIS_H || ry > H) continue;
          if (whole) drawRow(whole, t.rows[d].first, t.rows[d].first + t.rows[d].count, ry, v0, v1, scale, search,
            t.index, d);
          else drawTiledRow(t.index, d, ry, v0, v1, scale);
        }
      } else {
        box(COUNTER_BG, L.LABEL_W, y, pw, lane.h - L.GAP);
      }
    }
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    ctx.putImageData(img, Math.round(L.LABEL_W * dpr), Math.round(L.AXIS_H * dpr));

    ctx.save();
    ctx.beginPath();
    ctx.rect(L.LABEL_W, L.AXIS_H, pw, H - L.AXIS_H);
    ctx.clip();
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "middle";
    for (const [lane, y] of shown) {
      if (lane.inst) drawInstants(lane, y, v0, v1, scale, instants);
      else if (lane.kind === "counter") drawCounter(lane, y, v0, v1, scale, counters);
      else if (lane.kind === "empty") {
        ctx.font = "italic 11px sans-serif";
        ctx.fillStyle = headerStyle(lane).mark;
        ctx.fillText(lane.text, L.LABEL_W + 8, y + L.ROW_H / 2 + 1);
        ctx.font = "11px sans-serif";
      }
    }
    if (outlines.length) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 1;
      for (let q = 0; q < outlines.length; q += 4) {
        ctx.strokeRect(outlines[q] + 0.5, outlines[q + 1] + 0.5, Math.max(outlines[q + 2] - 1, 0), outlines[q + 3] - 1);
      }
    }
    for (let q = 0; q < labels.length; q += 4) {
      ctx.fillStyle = labels[q + 3] ? "#777" : "#111";
      ctx.fillText(labels[q], labels[q + 1], labels[q + 2]);
    }
    drawSelection(v0, scale);
    drawRange(v0, scale, L.AXIS_H, H - L.AXIS_H);
    ctx.restore();
    drawLabels(H);
    drawAxis(v0, v1, scale, W);
    drawRangeOnAxis(v0, scale);

    st.drawnCount = recN;
    st.drawnInstants = instants;
    st.drawnCounters = counters;
    st.frames = (st.frames || 0) + 1;
    st.lastDrawMs = performance.now() - t0;
    if (VT.onDrawn) VT.onDrawn();
    return st.lastDrawMs;
  }

  // One row's boxes A.S/A.D/A.N in [lo, end) (start-sorted, disjoint): the slices themselves,
  // or a tile's boxes, each holding A.P[i + 1] - A.P[i] slices from slice A.F[i] on (P and F
  // null for slices). A box of a pixel or wider holding one slice is drawn as that slice;
  // narrower ones are merged with every box that starts in the same pixel, and a box that
  // already holds several slices is drawn like such a merged box.
  function drawRow(A, lo, end, y, v0, v1, scale, search, track, depth) {
    const S = A.S, D = A.D, N = A.N, P = A.P, F = A.F;
    let i = VT.lowerBound(S, v0, lo, end);
    if (i > lo) i--; // the slice before the first start in view may reach into it
    const h = L.ROW_H - 1;
    while (i < end) {
      const s = S[i];
      if (s > v1) break;
      const e = s + D[i];
      if (e < v0) { i++; continue; }
      const x0 = (s - v0) * scale, x1 = (e - v0) * scale;
      let j = i + 1;
      if (x1 - x0 < 1) {
        // Narrow: take every slice that starts before the next pixel boundary.
        const tEnd = v0 + (Math.floor(x0) + 1) / scale;
        j = VT.lowerBound(S, tEnd, i + 1, end);
        const last = j - 1;
        if (last > i && (D[last] * scale) >= 1) j = last; // a wide one ends the run; drawn on its own
      }
      const count = P ? P[j] - P[i] : j - i;
      if (count === 1) {
        drawSlice(F ? F[i] : i, N[i], x0, Math.max(x1, x0 + 1), y, h, search, track, depth);
      } else {
        const xe = Math.max((S[j - 1] + D[j - 1] - v0) * scale, x0 + 1);
        // A tile's merged boxes count their matches (A.M, asked with the search): highlighted
        // when any slice in them matches, as the whole trace's prefix count decides.
        const pre = P ? A.M : search && search.prefix;
        const hit = search && pre ? pre[j] > pre[i] : true;
        const bx = Math.max(x0, -2);
        box(hit ? color32[N[i]] : faded32[N[i]], L.LABEL_W + bx, y, xe - bx, h);
        record(F ? F[i] : i, L.LABEL_W + bx, y, xe - bx, h, 1, count, track, depth, N[i]);
      }
      i = j;
    }
  }

  // Row (track, depth) from the frame's tiles, in time order. A box that starts before its
  // tile is also the last box of the tile before, so it is left to that one when it is there.
  function drawTiledRow(track, depth, y, v0, v1, scale) {
    // First what stands in for the tiles still on their way (tiles.js forView), each only over
    // the time of the tile it replaces.
    for (const f of frameTiles.fallback) {
      const run = f.tile.rows[track] && f.tile.rows[track][depth];
      if (!run) continue;
      const A = f.tile.A, end = run.first + run.count;
      let lo = VT.lowerBound(A.S, f.a, run.first, end);
      if (lo > run.first && A.S[lo - 1] + A.D[lo - 1] > f.a) lo--;
      const hi = VT.lowerBound(A.S, f.b, lo, end);
      if (lo < hi) drawRow(A, lo, hi, y, v0, v1, scale, null, track, depth);
    }
    let prev = null;
    for (const tile of frameTiles.tiles) {
      const byDepth = tile.rows[track], run = byDepth && byDepth[depth];
      const joined = prev !== null && prev.index === tile.index - 1;
      prev = tile;
      if (!run) continue;
      let lo = run.first;
      const end = run.first + run.count;
      if (joined && lo < end && tile.A.S[lo] < tile.t0) lo++;
      if (lo < end) drawRow(tile.A, lo, end, y, v0, v1, scale, st.search && st.search.active ? st.search : null,
        track, depth);
    }
  }

  function drawSlice(i, n, x0, x1, y, h, search, track, depth) {
    const bx0 = Math.max(x0, -2), bx1 = Math.min(x1, plotWidth() + 2);
    const dim = search && !search.names[n];
    const w = bx1 - bx0;
    // A one-pixel gap at the end keeps neighbours of the same colour apart.
    box(dim ? faded32[n] : color32[n], L.LABEL_W + bx0, y, w >= 3 ? w - 1 : w, h);
    if (search && !dim) outlines.push(L.LABEL_W + bx0, y, w, h);
    if (w > 30) {
      const label = m.names[n];
      const fit = Math.floor((w - 8) / 6.2);
      if (fit >= 2) {
        labels.push(label.length > fit ? label.slice(0, fit - 1) + "\u2026" : label,
          L.LABEL_W + Math.max(bx0, 0) + 4, y + h / 2 + 0.5, dim);
      }
    }
    record(i, L.LABEL_W + bx0, y, w, h, 0, 1, track, depth, n);
  }

  // The vertical centre of the instants of a lane whose top is at y.
  function instantY(lane, y) {
    return y + lane.instH / 2;
  }

  function diamond(x, cy) {
    ctx.beginPath();
    ctx.moveTo(x, cy - 6);
    ctx.lineTo(x + 5, cy);
    ctx.lineTo(x, cy + 6);
    ctx.lineTo(x - 5, cy);
    ctx.closePath();
  }

  function drawInstants(lane, y, v0, v1, scale, out) {
    const T = m.inst.time;
    const run = lane.inst, end = run.first + run.count;
    const cy = instantY(lane, y);
    let lastX = -10;
    for (let i = VT.lowerBound(T, v0, run.first, end); i < end && T[i] <= v1; i++) {
      const x = L.LABEL_W + (T[i] - v0) * scale;
      if (x - lastX < 1) continue;
      lastX = x;
      const name = m.names[m.inst.name[i]];
      ctx.fillStyle = nameCss[m.inst.name[i]];
      diamond(x, cy);
      ctx.fill();
      out.push({ i: i, name: name, scope: VT.SCOPES[m.inst.scope[i]], lane: lane.kind, track: m.inst.track[i],
        pid: lane.kind === "process" ? lane.pid : undefined, x: x, y: cy });
    }
  }

  const SERIES_COLORS = ["#2f6db5", "#d9534f", "#3c9a3c", "#b36ad1", "#e8912d", "#17a2b8"];

  // The scale of a counter series: from min(0, lowest) to max(0, highest) value.
  function seriesRange(s) {
    const lo = Math.min(0, s.min);
    let hi = Math.max(0, s.max);
    if (hi === lo) hi = lo + 1;
    return [lo, hi];
  }

  // A counter lane holds one step graph per series (key), each in its own row and scale, so a
  // 0/1 flag next to a count in the hundreds stays readable.
  function drawCounter(lane, y, v0, v1, scale, out) {
    const c = m.meta.counters[lane.counter];
    const T = m.cnt.time, V = m.cnt.value;
    c.series.forEach(function (s, si) {
      const top = y + si * L.COUNTER_H + 4, h = L.COUNTER_H - 6;
      const [lo, hi] = seriesRange(s);
      const end = s.first + s.count;
      let i = VT.lowerBound(T, v0, s.first, end);
      if (i > s.first) i--;
      const color = SERIES_COLORS[si % SERIES_COLORS.length];
      const yOf = function (v) { return top + h - ((v - lo) / (hi - lo)) * h; };
      let points = 0;
      ctx.beginPath();
      let px = null, py = null;
      for (; i < end; i++) {
        const x = L.LABEL_W + Math.max((T[i] - v0) * scale, -2);
        const yy = yOf(V[i]);
        if (px === null) ctx.moveTo(x, yy);
        else {
          ctx.lineTo(x, py);
          ctx.lineTo(x, yy);
        }
        px = x;
        py = yy;
        points++;
        if (T[i] > v1) break;
      }
      if (px !== null) {
        const xe = Math.min(L.LABEL_W + (m.end - v0) * scale, L.LABEL_W + plotWidth() + 2);
        ctx.lineTo(Math.max(xe, px), py);
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5;
        ctx.stroke();
        ctx.lineTo(Math.max(xe, px), yOf(0));
        ctx.lineTo(L.LABEL_W + Math.max((T[s.first] - v0) * scale, -2), yOf(0));
        ctx.closePath();
        ctx.globalAlpha = 0.18;
        ctx.fillStyle = color;
        ctx.fill();
        ctx.globalAlpha = 1;
      }
      out.push({ counter: c.name, pid: c.pid, key: s.key, color: color, points: points, y: top, height: h,
        min: lo, max: hi });
    });
  }

  function drawSelection(v0, scale) {
    const sel = st.selected;
    if (sel && sel.kind === "instant") drawSelectedInstant(sel.i, v0, scale);
    else if (sel && sel.kind === "counter") drawSelectedCounter(sel, v0, scale);
    if (!sel || sel.kind !== "slice") return;
    const at = VT.sliceAt(sel);
    const lane = laneOfTrack(at.track);
    if (!lane) return;
    const y = L.AXIS_H + lane.y - st.scrollY + lane.instH + at.depth * L.ROW_H;
    const x0 = Math.max((at.start - v0) * scale, -3);
    const x1 = Math.min((at.start + at.dur - v0) * scale, plotWidth() + 3);
    if (x1 < -2 || x0 > plotWidth() + 2) return;
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    ctx.strokeRect(L.LABEL_W + x0, y, Math.max(x1 - x0, 2), L.ROW_H - 1);
  }

  // The selected instant: its diamond outlined.
  function drawSelectedInstant(i, v0, scale) {
    const lane = laneOfInstant(i);
    if (!lane) return;
    const x = L.LABEL_W + (m.inst.time[i] - v0) * scale;
    if (x < L.LABEL_W - 6 || x > L.LABEL_W + plotWidth() + 6) return;
    diamond(x, instantY(lane, L.AXIS_H + lane.y - st.scrollY));
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    ctx.stroke();
  }

  // The selected point of a counter: a line at its time over the lane, a dot on each series.
  function drawSelectedCounter(sel, v0, scale) {
    const lane = lanes.find(function (l) { return l.kind === "counter" && l.counter === sel.i; });
    if (!lane) return;
    const x = L.LABEL_W + (sel.time - v0) * scale;
    const y = L.AXIS_H + lane.y - st.scrollY;
    ctx.fillStyle = "#000";
    ctx.fillRect(Math.round(x) - 0.5, y, 1, lane.h - L.GAP);
    const c = m.meta.counters[sel.i];
    VT.counterValuesAt(m, c, sel.time).forEach(function (v, si) {
      if (v.value === null) return;
      const [lo, hi] = seriesRange(c.series[si]);
      const top = y + si * L.COUNTER_H + 4, h = L.COUNTER_H - 6;
      ctx.beginPath();
      ctx.arc(x, top + h - ((v.value - lo) / (hi - lo)) * h, 3, 0, 2 * Math.PI);
      ctx.fill();
    });
  }

  // The selected time range: a translucent band over every lane, edged, from y over h px.
  function rangeX(v0, scale) {
    const r = st.range;
    if (!r) return null;
    const x0 = Math.max((r.start - v0) * scale, -3), x1 = Math.min((r.end - v0) * scale, plotWidth() + 3);
    if (x1 < -2 || x0 > plotWidth() + 2) return null;
    return [L.LABEL_W + x0, L.LABEL_W + Math.max(x1, x0 + 1)];
  }

  function drawRange(v0, scale, y, h) {
    const xs = rangeX(v0, scale);
    if (!xs) return;
    ctx.fillStyle = "rgba(47, 109, 181, 0.16)";
    ctx.fillRect(xs[0], y, xs[1] - xs[0], h);
    ctx.fillStyle = "rgba(47, 109, 181, 0.8)";
    ctx.fillRect(xs[0], y, 1, h);
    ctx.fillRect(xs[1] - 1, y, 1, h);
  }

  // On the axis: the band again and the range's length, when it fits.
  function drawRangeOnAxis(v0, scale) {
    const xs = rangeX(v0, scale);
    if (!xs) return;
    ctx.save();
    ctx.beginPath();
    ctx.rect(L.LABEL_W, 0, plotWidth(), L.AXIS_H);
    ctx.clip();
    ctx.fillStyle = "rgba(47, 109, 181, 0.85)";
    ctx.fillRect(xs[0], 2, xs[1] - xs[0], L.AXIS_H - 4);
    const text = VT.formatDuration(st.range.end - st.range.start);
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "middle";
    const w = ctx.measureText(text).width;
    if (w + 8 <= xs[1] - xs[0]) {
      ctx.fillStyle = "#fff";
      ctx.fillText(text, (xs[0] + xs[1]) / 2 - w / 2, L.AXIS_H / 2);
    }
    ctx.restore();
  }

  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  function ticks(v0, v1, scale) {
    const step = Math.max(1, niceStep(100 / scale));
    const out = [];
    for (let t = Math.ceil(v0 / step) * step; t <= v1; t += step) out.push(t);
    return { step: step, list: out };
  }

  function drawAxis(v0, v1, scale, W) {
    ctx.fillStyle = "#f3f4f6";
    ctx.fillRect(0, 0, W, L.AXIS_H);
    ctx.strokeStyle = "#c8ccd2";
    ctx.beginPath();
    ctx.moveTo(0, L.AXIS_H - 0.5);
    ctx.lineTo(W, L.AXIS_H - 0.5);
    ctx.stroke();
    const tk = ticks(v0, v1, scale);
    ctx.fillStyle = "#333";
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "middle";
    const labels = [];
    for (const t of tk.list) {
      const x = L.LABEL_W + (t - v0) * scale;
      ctx.beginPath();
      ctx.moveTo(Math.round(x) + 0.5, L.AXIS_H - 6);
      ctx.lineTo(Math.round(x) + 0.5, L.AXIS_H);
      ctx.stroke();
      const text = VT.formatTick(t, tk.step, Math.max(Math.abs(v0), Math.abs(v1)));
      ctx.fillText(text, x + 3, L.AXIS_H / 2);
      labels.push(text);
    }
    st.ticks = labels;
    ctx.fillStyle = "#555";
    ctx.fillText(VT.formatDuration(v1 - v0) + " shown", 8, L.AXIS_H / 2);
  }

  function drawLabels(H) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, L.AXIS_H, L.LABEL_W, H - L.AXIS_H);
    ctx.clip();
    ctx.fillStyle = "#fafbfc";
    ctx.fillRect(0, L.AXIS_H, L.LABEL_W, H - L.AXIS_H);
    for (const lane of lanes) {
      const y = L.AXIS_H + lane.y - st.scrollY;
      if (y + lane.h < L.AXIS_H || y > H) continue;
      const band = lane.kind === "process" || lane.kind === "global";
      let room = L.LABEL_W - 14;
      if (band) {
        const style = headerStyle(lane);
        ctx.fillStyle = style.cell;
        ctx.fillRect(0, y, L.LABEL_W, L.PROC_H);
        if (lane.state) {  // a bar at the left edge, as well as the colour
          ctx.fillStyle = style.mark;
          ctx.fillRect(0, y, 4, L.PROC_H);
        }
        if (lane.mark) {  // right-aligned, and never cut: the name gives way to it
          ctx.font = "bold 10px sans-serif";
          const mark = fitText(lane.mark, L.LABEL_W - 70);
          const w = ctx.measureText(mark).width;
          ctx.fillStyle = style.mark;
          ctx.fillText(mark, L.LABEL_W - 6 - w, y + L.PROC_H / 2 + 1);
          room -= w + 8;
        }
        ctx.font = (lane.kind === "process" ? "bold " : "italic ") + "11px sans-serif";
        ctx.fillStyle = style.text;
      } else {
        ctx.font = "11px sans-serif";
        ctx.fillStyle = lane.kind === "counter" ? "#2f5d8a" : "#333";
      }
      ctx.fillText(fitText(lane.label, room), 8, y + (band ? L.PROC_H : 16) / 2 + 1);
      if (lane.kind === "counter") drawSeriesLabels(lane, y);
      ctx.strokeStyle = "#e3e5e8";
      ctx.beginPath();
      ctx.moveTo(0, y + lane.h - 0.5);
      ctx.lineTo(canvas.clientWidth, y + lane.h - 0.5);
      ctx.stroke();
    }
    ctx.strokeStyle = "#c8ccd2";
    ctx.beginPath();
    ctx.moveTo(L.LABEL_W - 0.5, L.AXIS_H);
    ctx.lineTo(L.LABEL_W - 0.5, H);
    ctx.stroke();
    ctx.restore();
  }

  // Under a counter's name, each series' key in its colour and the range its graph spans.
  function drawSeriesLabels(lane, y) {
    const c = m.meta.counters[lane.counter];
    c.series.forEach(function (s, si) {
      const top = y + si * L.COUNTER_H;
      const [lo, hi] = seriesRange(s);
      ctx.font = "11px sans-serif";
      ctx.fillStyle = SERIES_COLORS[si % SERIES_COLORS.length];
      ctx.fillText(fitText("\u25a0 " + s.key, L.LABEL_W - 24), 16, top + 25);
      ctx.font = "10px sans-serif";
      ctx.fillStyle = "#888";
      ctx.fillText(fitText(VT.formatNumber(lo) + " \u2013 " + VT.formatNumber(hi), L.LABEL_W - 24), 16, top + 39);
    });
  }

  function fitText(text, width) {
    const fit = Math.floor(width / 6.2);
    return text.length > fit ? text.slice(0, fit - 1) + "\u2026" : text;
  }

  function laneOfTrack(ti) {
    for (const lane of lanes) if (lane.kind === "thread" && lane.track === ti) return lane;
    return null;
  }

  function laneOfInstant(i) {
    for (const lane of lanes) {
      if (lane.inst && i >= lane.inst.first && i < lane.inst.first + lane.inst.count) return lane;
    }
    return null;
  }

  // What is under canvas point (x, y), CSS px: {kind: "slice"|"instant", i}, a counter's point
  // {kind: "counter", i: counter, time}, or null.
  function hitTest(x, y) {
    if (x < L.LABEL_W || y < L.AXIS_H) return null;
    const cy = y - L.AXIS_H + st.scrollY;
    const lane = lanes.find(function (l) { return cy >= l.y && cy < l.y + l.h; });
    if (!lane) return null;
    const scale = plotWidth() / (st.view.end - st.view.start);
    const at = st.view.start + (x - L.LABEL_W) / scale;
    if (lane.kind === "counter") {
      const c = m.meta.counters[lane.counter];
      return cy - lane.y < lane.h - L.GAP && c.series.length ? { kind: "counter", i: lane.counter, time: at } : null;
    }
    const tol = 3 / scale;
    const local = cy - lane.y;
    if (local < lane.instH) {
      const T = m.inst.time, run = lane.inst, end = run.first + run.count;
      let best = -1, bestD = tol * 2;
      for (let i = VT.lowerBound(T, at - 2 * tol, run.first, end); i < end && T[i] <= at + 2 * tol; i++) {
        if (Math.abs(T[i] - at) < bestD) { bestD = Math.abs(T[i] - at); best = i; }
      }
      return best >= 0 ? { kind: "instant", i: best } : null;
    }
    if (lane.kind !== "thread") return null;
    const t = m.tracks[lane.track];
    const depth = Math.floor((local - lane.instH) / L.ROW_H);
    const row = t.rows[depth];
    if (!row || !row.count) return null;
    if (m.tiled) return hitTile(lane.track, depth, at, tol);
    const S = m.start, D = m.dur, end = row.first + row.count;
    const k = VT.lowerBound(S, at, row.first, end);
    for (const i of [k - 1, k, k - 2, k + 1]) {
      if (i >= row.first && i < end && S[i] <= at && S[i] + D[i] >= at) return { kind: "slice", i: i };
    }
    for (const i of [k - 1, k]) {
      if (i >= row.first && i < end && S[i] <= at + tol && S[i] + D[i] >= at - tol) return { kind: "slice", i: i };
    }
    return null;
  }

  // The box of a tiled trace under time `at` in row (track, depth) of the last frame's tiles:
  // {kind: "slice", i, box} for a box of one slice (i is its position in the whole trace),
  // {kind: "merged", box} for one that holds several; box = {start, dur, track, depth, name, count}.
  function hitTile(track, depth, at, tol) {
    if (!frameTiles) return null;
    for (const pass of [0, tol]) {
      for (const tile of frameTiles.tiles) {
        const run = tile.rows[track] && tile.rows[track][depth];
        if (!run) continue;
        const A = tile.A, end = run.first + run.count;
        const k = VT.lowerBound(A.S, at, run.first, end);
        for (const i of [k - 1, k]) {
          if (i < run.first || i >= end || A.S[i] > at + pass || A.S[i] + A.D[i] < at - pass) continue;
          const b = { start: A.S[i], dur: A.D[i], track: track, depth: depth, name: A.N[i], count: A.C[i] };
          return b.count === 1 ? { kind: "slice", i: A.F[i], box: b } : { kind: "merged", i: A.F[i], box: b };
        }
      }
    }
    return null;
  }

  // --- view changes -----------------------------------------------------------------------
  const MIN_RANGE = 20; // ns

  function setView(start, end) {
    let span = Math.max(end - start, MIN_RANGE);
    const maxSpan = m.end * 1.5 + 1000;
    if (span > maxSpan) span = maxSpan;
    const c = (start + end) / 2;
    start = c - span / 2;
    // Keep part of the trace in sight, but let any point of it be centred.
    const lo = -span * 0.9, hi = m.end + span * 0.9;
    if (start < lo) start = lo;
    if (start + span > hi) start = hi - span;
    st.view = { start: start, end: start + span };
    requestDraw();
  }

  function zoomAt(factor, x) {
    const v0 = st.view.start, v1 = st.view.end;
    const frac = Math.min(Math.max((x - L.LABEL_W) / plotWidth(), 0), 1);
    const at = v0 + frac * (v1 - v0);
    const span = (v1 - v0) * factor;
    setView(at - frac * span, at - frac * span + span);
  }

  function pan(fraction) {
    const span = st.view.end - st.view.start;
    setView(st.view.start + fraction * span, st.view.end + fraction * span);
  }

  function clampScroll() {
    const visible = canvas.clientHeight - L.AXIS_H;
    st.scrollY = Math.max(0, Math.min(st.scrollY, Math.max(0, contentH - visible + 20)));
  }

  function scrollBy(dy) {
    st.scrollY += dy;
    clampScroll();
    requestDraw();
  }

  // Centre the view on slice i, zooming out if it does not fit, and scroll its lane into sight.
  // A tiled trace has no slice columns: `at` says where the slice is {start, dur, track, depth}.
  function reveal(i, at) {
    const w = at || { start: m.start[i], dur: m.dur[i], track: m.track[i], depth: m.depth[i] };
    const s = w.start, d = w.dur;
    let span = st.view.end - st.view.start;
    if (d * 1.2 > span) span = Math.max(d * 1.5, MIN_RANGE);
    setView(s + d / 2 - span / 2, s + d / 2 + span / 2);
    const lane = laneOfTrack(w.track);
    if (lane) {
      const y = lane.y + lane.instH + w.depth * L.ROW_H;
      const visible = canvas.clientHeight - L.AXIS_H;
      if (y < st.scrollY || y + L.ROW_H > st.scrollY + visible) {
        st.scrollY = y - visible / 3;
        clampScroll();
      }
    }
    requestDraw();
  }

  // Scroll the timeline so that the header of process pid is at the top.
  function revealProcess(pid) {
    const lane = lanes.find(function (l) { return l.kind === "process" && l.pid === pid; });
    if (!lane) return;
    st.scrollY = lane.y;
    clampScroll();
    requestDraw();
  }

  // "key: value" lines of a counter at time `at` (ns); "" before its first sample.
  function counterValues(ci, at) {
    const c = m.meta.counters[ci];
    const lines = [c.name + " at " + VT.formatDuration(at)];
    for (const v of VT.counterValuesAt(m, c, at)) if (v.value !== null) lines.push(v.key + ": " + v.value);
    return lines.length > 1 ? lines.join("\n") : "";
  }

  // The name and duration of what is under the pointer (a counter's values), as the canvas's tooltip.
  function hover(x, y) {
    const hit = hitTest(x, y);
    let text = "";
    if (hit && hit.box) {
      text = (hit.box.count > 1 ? hit.box.count.toLocaleString() + " calls, mostly " : "") + m.names[hit.box.name] +
        "\n" + VT.formatDuration(hit.box.dur);
    } else if (hit && hit.kind === "slice") text = m.names[m.name[hit.i]] + "\n" + VT.formatDuration(m.dur[hit.i]);
    else if (hit && hit.kind === "instant") {
      const name = m.names[m.inst.name[hit.i]];
      text = name.length > 400 ? name.slice(0, 399) + "\u2026" : name;
    } else if (hit && hit.kind === "counter") text = counterValues(hit.i, hit.time);
    if (canvas.title !== text) canvas.title = text;
  }

  function bindEvents() {
    let drag = null;
    canvas.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      const r = canvas.getBoundingClientRect();
      const x = ev.clientX - r.left;
      if (ev.shiftKey || x < L.LABEL_W) {
        scrollBy(ev.deltaY || ev.deltaX);
        return;
      }
      if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
        pan(ev.deltaX / plotWidth());
        return;
      }
      const unit = ev.deltaMode === 1 ? 30 : ev.deltaMode === 2 ? 300 : 1;
      zoomAt(Math.exp(ev.deltaY * unit * 0.002), x);
    }, { passive: false });
    canvas.addEventListener("mousedown", function (ev) {
      if (ev.button !== 0) return;
      const r = canvas.getBoundingClientRect();
      // Shift+drag over the plot selects a time range; a plain drag pans.
      const select = ev.shiftKey && ev.clientX - r.left >= L.LABEL_W && ev.clientY - r.top >= 0;
      drag = { x: ev.clientX, y: ev.clientY, view: st.view, scrollY: st.scrollY, moved: false, select: select,
        at: select ? timeAt(ev.clientX - r.left) : 0 };
      if (select) ev.preventDefault(); // no text selection while dragging
    });
    window.addEventListener("mousemove", function (ev) {
      const r = canvas.getBoundingClientRect();
      mouse = { x: ev.clientX - r.left, y: ev.clientY - r.top };
      if (!drag) {
        if (ev.target === canvas) hover(mouse.x, mouse.y);
        return;
      }
      const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      drag.moved = true;
      if (drag.select) {
        canvas.style.cursor = "col-resize";
        VT.selectRange(rangeOf(drag.at, timeAt(mouse.x)), false);
        return;
      }
      canvas.style.cursor = "grabbing";
      const span = drag.view.end - drag.view.start;
      const shift = (-dx / plotWidth()) * span;
      setView(drag.view.start + shift, drag.view.end + shift);
      st.scrollY = drag.scrollY - dy;
      clampScroll();
    });
    window.addEventListener("mouseup", function (ev) {
      if (!drag) return;
      const wasDrag = drag.moved, select = drag.select, at = drag.at;
      drag = null;
      canvas.style.cursor = "";
      const r = canvas.getBoundingClientRect();
      if (wasDrag && select) {
        VT.selectRange(rangeOf(at, timeAt(ev.clientX - r.left)), true);
        return;
      }
      if (wasDrag) return;
      const hit = hitTest(ev.clientX - r.left, ev.clientY - r.top);
      VT.select(hit);
    });
    document.addEventListener("keydown", function (ev) {
      const tag = (ev.target && ev.target.tagName) || "";
      if (tag === "INPUT" || tag === "TEXTAREA" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (ev.key === "Escape" && st.range) {
        VT.select(null); // Esc clears the selected range (in the flame graph too)
        ev.preventDefault();
        return;
      }
      if (st.mode !== "timeline") return;
      const x = mouse && mouse.x > L.LABEL_W && mouse.x < canvas.clientWidth ? mouse.x
        : L.LABEL_W + plotWidth() / 2;
      const k = ev.key.toLowerCase();
      if (k === "w") zoomAt(1 / 1.3, x);
      else if (k === "s") zoomAt(1.3, x);
      else if (k === "a") pan(-0.15);
      else if (k === "d") pan(0.15);
      else return;
      ev.preventDefault();
    });
    window.addEventListener("resize", resize);
  }

  // The time at canvas x (CSS px) in the current view.
  function timeAt(x) {
    return st.view.start + ((x - L.LABEL_W) / plotWidth()) * (st.view.end - st.view.start);
  }

  // A range between two times, in either order, kept within the trace.
  function rangeOf(t0, t1) {
    const lo = Math.min(Math.max(Math.min(t0, t1), 0), m.end), hi = Math.min(Math.max(Math.max(t0, t1), 0), m.end);
    return { start: lo, end: hi };
  }

  function laneBoxes() {
    return lanes.map(function (l) {
      return { kind: l.kind, track: l.track, counter: l.counter, pid: l.pid, label: l.label,
        mark: l.mark, state: l.state, text: l.text,
        y: L.AXIS_H + l.y - st.scrollY, height: l.h, instH: l.instH || 0, instants: l.inst ? l.inst.count : 0 };
    });
  }

  return {
    init: init, draw: draw, requestDraw: requestDraw, setView: setView, zoomAt: zoomAt, pan: pan,
    reveal: reveal, revealProcess: revealProcess, hitTest: hitTest, resize: resize, laneBoxes: laneBoxes,
    plotWidth: plotWidth, drawnList: drawnList, timeAt: timeAt,
    tileState: function () { return frameTiles ? { level: frameTiles.level, missing: frameTiles.missing } : null; },
  };
})();
