// The flame graph: identical call stacks aggregated, frame width proportional to total time.
//
// Scope: the selected time range (Shift+drag) when there is one, else the selected slice's
// subtree when a slice is selected, otherwise the time range the timeline shows (all threads,
// durations clipped to the range). Parents always come before their
// children in the column order (rows are sorted by track, then depth), so one pass suffices.
// A tiled trace has no slices in the page: the server builds the same tree from its columns
// (query.js, /api/flame) and the page draws it.
"use strict";
var VT = (window.VT = window.VT || {});

VT.flame = (function () {
  const ROW_H = 18;
  let canvas, ctx, m, st;
  let nodes = [];      // {name (index or -1 for the root), total, children: Map, parent, depth}
  let focus = 0;
  let rects = [];      // drawn frames, for hit testing and the debug hook
  let nodeOf = null, mark = null, gen = 0;
  let scopeText = "";

  function init(model, state) {
    m = model;
    st = state;
    canvas = document.getElementById("flame");
    ctx = canvas.getContext("2d");
    canvas.addEventListener("click", function (ev) {
      const r = canvas.getBoundingClientRect();
      const x = ev.clientX - r.left, y = ev.clientY - r.top;
      const hit = rects.find(function (f) { return x >= f.x && x < f.x + f.width && y >= f.y && y < f.y + ROW_H; });
      if (!hit) return;
      focus = hit.node === focus && nodes[focus].parent >= 0 ? nodes[focus].parent : hit.node;
      draw();
    });
    canvas.addEventListener("mousemove", function (ev) {
      const r = canvas.getBoundingClientRect();
      const x = ev.clientX - r.left, y = ev.clientY - r.top;
      const hit = rects.find(function (f) { return x >= f.x && x < f.x + f.width && y >= f.y && y < f.y + ROW_H; });
      document.getElementById("flame-info").textContent = hit ? describe(hit.node) : "";
    });
  }

  function newNode(name, parent, depth) {
    nodes.push({ name: name, total: 0, children: new Map(), parent: parent, depth: depth });
    return nodes.length - 1;
  }

  function child(parent, name) {
    const p = nodes[parent];
    let id = p.children.get(name);
    if (id === undefined) {
      id = newNode(name, parent, p.depth + 1);
      p.children.set(name, id);
    }
    return id;
  }

  // Aggregate the current scope into the node tree.
  function build() {
    nodes = [];
    focus = newNode(-1, -1, 0);
    if (!nodeOf || nodeOf.length < m.count) {
      nodeOf = new Int32Array(m.count);
      mark = new Int32Array(m.count);
    }
    gen++;
    const S = m.start, D = m.dur, N = m.name, P = m.parent;
    const sel = !st.range && st.selected && st.selected.kind === "slice" ? st.selected.i : -1;
    if (sel >= 0) {
      const t = m.tracks[m.track[sel]];
      const s = S[sel], e = s + D[sel], d0 = m.depth[sel];
      nodes[0].name = N[sel];
      nodes[0].total = D[sel];
      nodeOf[sel] = 0;
      mark[sel] = gen;
      for (let d = d0 + 1; d < t.rows.length; d++) {
        const row = t.rows[d], end = row.first + row.count;
        for (let i = VT.lowerBound(S, s, row.first, end); i < end && S[i] <= e; i++) {
          const p = P[i];
          if (p < 0 || mark[p] !== gen) continue;
          const id = child(nodeOf[p], N[i]);
          nodes[id].total += D[i];
          nodeOf[i] = id;
          mark[i] = gen;
        }
      }
      scopeText = "Selected slice: " + m.names[N[sel]] + " (" + VT.formatDuration(D[sel]) + ")";
      return;
    }
    const a = st.range ? st.range.start : st.view.start, b = st.range ? st.range.end : st.view.end;
    for (const t of m.tracks) {
      for (let d = 0; d < t.rows.length; d++) {
        const row = t.rows[d], end = row.first + row.count;
        let i = VT.lowerBound(S, a, row.first, end);
        if (i > row.first) i--;
        for (; i < end && S[i] <= b; i++) {
          const s = Math.max(S[i], a), e = Math.min(S[i] + D[i], b);
          if (e < s || (e === s && D[i] > 0)) continue;
          const p = P[i];
          const id = child(p >= 0 && mark[p] === gen ? nodeOf[p] : 0, N[i]);
          nodes[id].total += e - s;
          nodeOf[i] = id;
          mark[i] = gen;
        }
      }
    }
    for (const id of nodes[0].children.values()) nodes[0].total += nodes[id].total;
    scopeText = rangeText(a, b);
  }

  function rangeText(a, b) {
    const whole = a <= 0 && b >= m.end;
    if (st.range) {
      return "Selected range " + VT.formatDuration(a) + " \u2013 " + VT.formatDuration(b) + " (" +
        VT.formatDuration(b - a) + ")";
    }
    return whole ? "Whole trace" : "Visible range " + VT.formatDuration(Math.max(a, 0)) + " \u2013 " +
      VT.formatDuration(Math.min(b, m.end));
  }

  // A tiled trace: the same scope as build(), the tree from the server's flat node lists
  // (made in the order build() would make them, so equal totals are drawn in the same order).
  let asked = null;
  function showTiled() {
    const sel = !st.range && st.selected && st.selected.kind === "slice" ? st.selected : null;
    const a = st.range ? st.range.start : st.view.start, b = st.range ? st.range.end : st.view.end;
    const text = sel ? null : rangeText(a, b);
    const token = (asked = {});
    nodes = [];
    rects = [];
    st.flame = [];
    document.getElementById("flame-scope").textContent = "Computing the flame graph\u2026";
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    VT.query.flame(a, b, sel ? sel.i : -1).then(function (answer) {
      if (asked !== token) return;
      nodes = [];
      for (let k = 0; k < answer.parent.length; k++) {
        const p = answer.parent[k];
        nodes.push({ name: answer.name[k], total: answer.total[k], children: new Map(), parent: p,
          depth: p < 0 ? 0 : nodes[p].depth + 1 });
        if (p >= 0) nodes[p].children.set(answer.name[k], k);
      }
      focus = 0;
      if (sel) {
        const at = VT.sliceAt(sel);
        scopeText = "Selected slice: " + at.name + " (" + VT.formatDuration(at.dur) + ")";
      } else scopeText = text;
      draw();
    }).catch(function (e) {
      if (asked === token) document.getElementById("flame-scope").textContent = "Cannot build the flame graph: " + (e.message || e);
    });
  }

  function label(id) {
    return nodes[id].name < 0 ? "all" : m.names[nodes[id].name];
  }

  function describe(id) {
    const n = nodes[id];
    const rootTotal = nodes[0].total || 1;
    return label(id) + ": " + VT.formatDuration(n.total) + " (" + ((100 * n.total) / rootTotal).toFixed(1) + "%)";
  }

  function resize() {
    const box = canvas.parentElement.getBoundingClientRect();
    const head = document.getElementById("flame-head").getBoundingClientRect().height;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(300, Math.floor(box.width)), h = Math.max(150, Math.floor(box.height - head));
    canvas.style.width = w + "px";
    canvas.style.height = h + "px";
    canvas.width = Math.floor(w * dpr);
    canvas.height = Math.floor(h * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  function draw() {
    resize();
    const W = canvas.clientWidth, H = canvas.clientHeight;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "middle";
    rects = [];
    if (!nodes.length) return; // a tiled trace whose tree is on its way
    // The focus's ancestors, full width and faded, above it.
    const chain = [];
    for (let id = focus; id >= 0; id = nodes[id].parent) chain.unshift(id);
    chain.forEach(function (id, k) { frame(id, 0, W, k * ROW_H, id !== focus); });
    const scale = nodes[focus].total > 0 ? W / nodes[focus].total : 0;
    const queue = [[focus, 0, (chain.length - 1) * ROW_H]];
    while (queue.length) {
      const [id, x, y] = queue.pop();
      const kids = Array.from(nodes[id].children.values()).sort(function (p, q) { return nodes[q].total - nodes[p].total; });
      let cx = x;
      for (const k of kids) {
        const w = nodes[k].total * scale;
        if (w >= 0.5 && y + ROW_H < H) {
          frame(k, cx, w, y + ROW_H, false);
          queue.push([k, cx, y + ROW_H]);
        }
        cx += w;
      }
    }
    document.getElementById("flame-scope").textContent = scopeText;
    st.flame = rects.map(function (f) {
      return { name: f.name, depth: f.depth, x: f.x, y: f.y, width: f.width, total: nodes[f.node].total,
        ancestor: f.ancestor };
    });
    if (VT.onDrawn) VT.onDrawn();
  }

  function frame(id, x, w, y, ancestor) {
    const n = nodes[id];
    const name = label(id);
    const rgb = n.name < 0 ? [0xb8, 0xbe, 0xc8] : VT.rgbOf(name);
    ctx.fillStyle = VT.cssOf(ancestor ? rgb.map(function (v) { return Math.round(v + (255 - v) * 0.6); }) : rgb);
    ctx.fillRect(x, y, Math.max(w - 1, 0.5), ROW_H - 1);
    if (w > 30) {
      const fit = Math.floor((w - 8) / 6.2);
      const text = name + " " + VT.formatDuration(n.total);
      ctx.fillStyle = "#111";
      ctx.fillText(text.length > fit ? text.slice(0, Math.max(fit - 1, 1)) + "\u2026" : text, x + 4, y + ROW_H / 2);
    }
    rects.push({ node: id, name: name, depth: n.depth, x: x, y: y, width: w, ancestor: ancestor });
  }

  function show() {
    if (m.tiled) {
      showTiled();
      return;
    }
    build();
    draw();
  }

  return { init: init, show: show, draw: draw };
})();
