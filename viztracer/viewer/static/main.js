// Start-up: find the trace (embedded in a standalone report, or from the vizviewer server),
// the file list of a directory, the Perfetto hand-off, and the window.__vt debug hook.
"use strict";
var VT = (window.VT = window.VT || {});

VT.state = { mode: "timeline", view: { start: 0, end: 1 }, scrollY: 0, selected: null, range: null,
  rangeStats: null, search: null,
  drawnCount: 0, drawnInstants: [], drawnCounters: [], flame: [], frames: 0, lastDrawMs: 0, ticks: [] };

// The hook tests (and curious users) read: what is drawn, the view, the selection.
window.__vt = {
  ready: false,
  error: null,
  file: null,
  get mode() { return VT.state.mode; },
  get drawn() { return VT.timeline.drawnList(); },
  get instants() { return VT.state.drawnInstants; },
  get counters() { return VT.state.drawnCounters; },
  get flame() { return VT.state.flame; },
  get frames() { return VT.state.frames; },
  get lastDrawMs() { return VT.state.lastDrawMs; },
  get ticks() { return VT.state.ticks; },
  get view() { return { start: VT.state.view.start, end: VT.state.view.end }; },
  get selected() {
    const s = VT.state.selected, m = VT.model;
    if (!s) return null;
    if (s.kind === "slice") {
      const at = VT.sliceAt(s);
      return { kind: "slice", i: s.i, name: at.name, start: at.start, dur: at.dur, track: at.track, depth: at.depth };
    }
    if (s.kind === "merged") return { kind: "merged", i: s.i, count: s.box.count, name: m.names[s.box.name] };
    if (s.kind === "instant") {
      return { kind: "instant", i: s.i, name: m.names[m.inst.name[s.i]], time: m.inst.time[s.i],
        scope: VT.SCOPES[m.inst.scope[s.i]], track: m.inst.track[s.i] };
    }
    if (s.kind === "counter") {
      const c = m.meta.counters[s.i];
      const values = {};
      for (const v of VT.counterValuesAt(m, c, s.time)) values[v.key] = v.value;
      return { kind: "counter", i: s.i, name: c.name, pid: c.pid, time: s.time, values: values };
    }
    return { kind: s.kind, i: s.i };
  },
  // The time range selected by Shift+drag (ns), or null; and its per-function statistics.
  get selection() {
    const r = VT.state.range;
    return r ? { start: r.start, end: r.end } : null;
  },
  get rangeStats() { return VT.state.rangeStats; },
  get search() {
    const s = VT.state.search;
    return s ? { query: s.query, count: s.matches ? s.matches.length : s.total, pos: s.pos } : null;
  },
  get summary() {
    const m = VT.model;
    return m ? { slices: m.count, end: m.end, tracks: m.meta.tracks, names: m.names.length,
      instants: m.inst.time.length, counters: m.meta.counters, objects: m.meta.objects.length,
      processes: m.meta.processes } : null;
  },
  // A tiled trace: {level drawn (-1: the slices), tiles on their way, loaded, levels}; else null.
  get tiles() {
    const t = VT.timeline.tileState();
    return t ? Object.assign({ levels: VT.model.tiled.levels }, t, VT.tiles.stats()) : null;
  },
  lanes: function () { return VT.timeline.laneBoxes(); },
  redraw: function () { return VT.timeline.draw(); },
  colorOf: function (name) { return VT.rgbOf(name); },
  setView: function (start, end) { VT.timeline.setView(start, end); return VT.timeline.draw(); },
};

// Where slice selection `sel` is: {name, start, dur, track, depth}. A tiled trace has no slice
// columns: the box clicked says it until /api/slice has answered (sel.info).
VT.sliceAt = function (sel) {
  const m = VT.model;
  if (!m.tiled) {
    const i = sel.i;
    return { name: m.names[m.name[i]], start: m.start[i], dur: m.dur[i], track: m.track[i], depth: m.depth[i] };
  }
  if (sel.info) return sel.info;
  const b = sel.box;
  return { name: m.names[b.name], start: b.start, dur: b.dur, track: b.track, depth: b.depth };
};

// A slice of a tiled trace: its details come from the server.
function showTiledSlice(sel) {
  VT.panels.showSliceInfo(Object.assign({ loading: true }, VT.sliceAt(sel)));
  fetch("/api/slice?file=" + encodeURIComponent(window.__vt.file) + "&i=" + sel.i)
    .then(function (resp) { return resp.ok ? resp.json() : fetchText(resp); })
    .then(function (info) {
      if (VT.state.selected !== sel) return;
      sel.info = info;
      VT.panels.showSliceInfo(info);
      VT.timeline.requestDraw();
    })
    .catch(function (e) { VT.banner("error", "Cannot load the slice's details: " + (e.message || e)); });
}

// The selection is one slice, instant, object or counter point (`sel`: {kind, i} and, for a
// counter, its time; null for none), or a time range
// (VT.selectRange); choosing one clears the other.
VT.select = function (sel) {
  VT.state.selected = sel;
  VT.state.range = null;
  VT.state.rangeStats = null;
  if (!sel) VT.panels.clear();
  else if (sel.kind === "slice" && VT.model.tiled) showTiledSlice(sel);
  else if (sel.kind === "slice") VT.panels.showSlice(sel.i);
  else if (sel.kind === "merged") VT.panels.showMerged(sel.box);
  else if (sel.kind === "instant") VT.panels.showInstant(sel.i);
  else if (sel.kind === "object") VT.panels.showObject(sel.i);
  else if (sel.kind === "counter") VT.panels.showCounter(sel.i, sel.time);
  VT.timeline.requestDraw();
  if (VT.state.mode === "flame") VT.flame.show();
};

// Select the time range r = {start, end} (ns). While a Shift+drag goes on (`final` false) only
// the band and the bounds follow the pointer; the statistics and the flame graph come at the end.
VT.selectRange = function (r, final) {
  if (!r || !(r.end > r.start)) {
    VT.select(null);
    return;
  }
  VT.state.selected = null;
  const range = (VT.state.range = { start: r.start, end: r.end });
  const tiled = final && VT.model.tiled;
  VT.state.rangeStats = final && !tiled ? VT.rangeStats(VT.model, r.start, r.end, 50) : null;
  VT.panels.showRange(range, VT.state.rangeStats, tiled ? "Computing the functions in the range\u2026" : "");
  if (tiled) { // the server walks the slices (query.js); a newer selection wins
    VT.query.range(r.start, r.end, 50).then(function (stats) {
      if (VT.state.range !== range) return;
      VT.state.rangeStats = stats;
      VT.panels.showRange(range, stats, "");
    }).catch(function (e) {
      if (VT.state.range === range) VT.panels.showRange(range, null, "Cannot compute the range's functions: " + (e.message || e));
    });
  }
  VT.timeline.requestDraw();
  if (final && VT.state.mode === "flame") VT.flame.show();
};

VT.fail = function (text) {
  window.__vt.error = text;
  document.getElementById("loading").hidden = true;
  VT.banner("error", text);
};

VT.setMode = function (mode) {
  VT.state.mode = mode;
  document.getElementById("timeline-box").hidden = mode !== "timeline";
  document.getElementById("flame-box").hidden = mode !== "flame";
  document.getElementById("toggle-view").textContent = mode === "flame" ? "Timeline" : "Flame graph";
  if (mode === "flame") VT.flame.show();
  else VT.timeline.resize();
};

// Show a decoded trace; `onFirstDraw` runs once the first timeline (or flame graph) is on screen.
VT.show = function (model, onFirstDraw) {
  VT.model = model;
  document.getElementById("loading").hidden = true;
  document.getElementById("viewer").hidden = false;
  VT.state.view = { start: 0, end: model.end };
  if (model.tiled) VT.tiles.init(model.tiled, window.__vt.file, function () { VT.timeline.requestDraw(); });
  VT.timeline.init(model, VT.state);
  VT.flame.init(model, VT.state);
  VT.panels.init(model, VT.state);
  const pad = model.end * 0.01;
  VT.timeline.setView(-pad, model.end + pad);
  document.getElementById("toggle-view").onclick = function () {
    VT.setMode(VT.state.mode === "flame" ? "timeline" : "flame");
  };
  document.getElementById("reset-view").onclick = function () {
    VT.select(null);
    VT.timeline.setView(-pad, model.end + pad);
    if (VT.state.mode === "flame") VT.flame.show();
  };
  VT.onDrawn = function () {
    if (VT.state.tilesMissing) return; // a tiled trace has drawn once its first tiles are in
    VT.onDrawn = null;
    window.__vt.ready = true;
    if (onFirstDraw) onFirstDraw();
  };
  window.addEventListener("resize", function () {
    if (VT.state.mode === "flame") VT.flame.draw();
  });
  if (VT.params.get("view") === "flamegraph") VT.setMode("flame");
};

VT.params = new URLSearchParams(window.location.search);

function fetchText(resp) {
  return resp.text().then(function (t) {
    throw new Error((t || "").trim().split("\n")[0] || "HTTP " + resp.status);
  });
}

VT.loadFromServer = function (file) {
  window.__vt.file = file;
  const toPerfetto = document.getElementById("open-perfetto");
  toPerfetto.hidden = false;
  toPerfetto.onclick = function () { VT.perfetto(file); };
  document.title = file + " \u2013 vizviewer";
  document.getElementById("title").textContent = file;
  const t0 = performance.now();
  const timing = (window.__vt.timing = { start: t0 });
  const progress = VT.watchProgress(file);
  return fetch("/api/trace?file=" + encodeURIComponent(file))
    .then(function (resp) {
      timing.response = performance.now();
      progress.received();
      return resp.ok ? resp.arrayBuffer() : fetchText(resp);
    })
    .then(function (buf) {
      timing.received = performance.now();
      const model = VT.decodeBlob(buf);
      timing.decoded = performance.now();
      VT.show(model, function () {
        timing.drawn = performance.now();
        progress.done();
        const events = model.count + model.inst.time.length + model.cnt.time.length;
        fetch("/api/loaded", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ file: file, events: events, ms: performance.now() - t0 }) }).catch(function () {});
      });
    })
    .catch(function (e) {
      progress.done();
      VT.fail(e.message || String(e));
    });
};

VT.loadEmbedded = function (node) {
  const text = node.textContent.replace(/\s+/g, "");
  let bytes;
  if (typeof Uint8Array.fromBase64 === "function") bytes = Uint8Array.fromBase64(text);
  else {
    const bin = atob(text);
    bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  }
  const model = VT.decodeBlob(bytes.buffer);
  const title = model.meta.title || "viztracer report";
  document.title = title;
  document.getElementById("title").textContent = title;
  VT.show(model, null);
};

// --- the directory listing ------------------------------------------------------------------
VT.showFileList = function (listing) {
  document.getElementById("loading").hidden = true;
  document.getElementById("filelist").hidden = false;
  document.getElementById("title").textContent = "Reports";
  const body = document.getElementById("files");
  body.textContent = "";
  if (!listing.files.length) {
    const tr = document.createElement("tr");
    tr.innerHTML = "<td colspan=3>No reports here yet; this list refreshes by itself.</td>";
    body.appendChild(tr);
  }
  for (const f of listing.files) {
    const tr = document.createElement("tr");
    const a = document.createElement("a");
    a.href = "/?file=" + encodeURIComponent(f.name);
    a.textContent = f.name;
    a.className = "report-link";
    const cells = [a, document.createTextNode(formatSize(f.size)),
      document.createTextNode(new Date(f.mtime * 1000).toLocaleString())];
    for (const c of cells) {
      const td = document.createElement("td");
      td.appendChild(c);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
};

function formatSize(n) {
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}

VT.watchDirectory = function (first) {
  VT.showFileList(first);
  let last = JSON.stringify(first.files);
  const refresh = function () {
    fetch("/api/files").then(function (r) { return r.ok ? r.json() : null; }).then(function (listing) {
      if (!listing) return;
      const now = JSON.stringify(listing.files);
      if (now !== last) {
        last = now;
        VT.showFileList(listing);
      }
    }).catch(function () {});
  };
  setInterval(refresh, 2000);
  window.addEventListener("focus", refresh);
};

// --- Perfetto hand-off: open the UI, fetch the raw file, PING until it answers PONG, post it ---
// The window is opened first, before any await, so that a click's user activation still allows
// the pop-up; without one (the page opened with &perfetto=1) a blocked pop-up becomes a button.
VT.perfetto = function (file) {
  const url = VT.params.get("perfetto_url") || "https://ui.perfetto.dev";
  const origin = new URL(url, window.location.href).origin;
  document.getElementById("loading").hidden = true;
  const win = window.open(url);
  if (!win) {
    const b = document.getElementById("notice");
    b.textContent = "Your browser blocked the Perfetto window. ";
    const button = document.createElement("button");
    button.textContent = "Open " + file + " in Perfetto";
    button.onclick = function () { VT.perfetto(file); };
    b.appendChild(button);
    b.hidden = false;
    return Promise.resolve();
  }
  VT.banner("notice", "Sending " + file + " to the Perfetto UI (" + origin + ")\u2026");
  return fetch("/api/raw?file=" + encodeURIComponent(file))
    .then(function (resp) { return resp.ok ? resp.arrayBuffer() : fetchText(resp); })
    .then(function (buffer) { handshake(win, origin, buffer, file); })
    .catch(function (e) { VT.fail(e.message || String(e)); });
};

function handshake(win, origin, buffer, file) {
  const name = file.split("/").pop();
  let tries = 0;
  const timer = setInterval(function () {
    if (++tries > 600) {
      clearInterval(timer);
      VT.banner("notice", "The Perfetto UI at " + origin + " did not answer.");
      return;
    }
    win.postMessage("PING", origin);
  }, 100);
  window.addEventListener("message", function onMessage(ev) {
    if (ev.source !== win || ev.data !== "PONG") return;
    clearInterval(timer);
    window.removeEventListener("message", onMessage);
    win.postMessage({ perfetto: { buffer: buffer, title: name, fileName: name } }, origin);
    window.__vt.perfettoSent = true;
    VT.banner("notice", "Sent " + file + " to the Perfetto UI (" + origin + ").");
  });
}

VT.boot = function () {
  const embedded = document.getElementById("vt-blob");
  try {
    if (embedded) {
      document.getElementById("reports-link").hidden = true;
      VT.loadEmbedded(embedded);
      return;
    }
  } catch (e) {
    VT.fail("cannot read the embedded trace: " + (e.message || e));
    return;
  }
  const file = VT.params.get("file");
  const open = function (name) {
    if (VT.params.get("perfetto") === "1") return VT.perfetto(name);
    return VT.loadFromServer(name);
  };
  if (file) {
    open(file);
    return;
  }
  fetch("/api/files")
    .then(function (resp) { return resp.ok ? resp.json() : fetchText(resp); })
    .then(function (listing) {
      if (listing.mode === "file" && listing.files.length === 1) open(listing.files[0].name);
      else VT.watchDirectory(listing);
    })
    .catch(function (e) { VT.fail(e.message || String(e)); });
};

VT.boot();
