// Tiles of a trace too large to send whole (viztracer/viewer/tiles.py): the server keeps the
// slices and answers /api/tile?level=k&index=j with the boxes of every row in
// [j * buckets * w_k, (j + 1) * buckets * w_k), where at level k slices narrower than w_k are
// merged per bucket; level -1 is the slices themselves (over level 0's span). The page asks
// for the coarsest level whose w_k is at most a pixel, so a box is at most about two pixels
// wide and drawRow merges them per pixel as it does slices; tiles are kept by (k, j) and reused
// while panning and zooming, and each one that arrives redraws the frame.
"use strict";
var VT = (window.VT = window.VT || {});

VT.tiles = (function () {
  // Tiles kept in memory, least recently used dropped first: at most this many, and at most
  // this many bytes (a tile of a dense trace is a megabyte or more; the page's heap stays small
  // however long the user pans).
  const KEEP = 256;
  let KEEP_BYTES = 96 << 20; // setBudget() changes it (tests)
  let bytes = 0;
  let inView = new Set(); // the keys of the tiles the last view asked for
  let info = null, file = null, onArrive = null;
  const cache = new Map(); // "k:j" (+ "?query") -> tile, or {pending: true}, or {error}
  // While a search is on, tiles are asked with it and carry how many of each box's slices
  // match (A.M, a prefix sum like A.P), so they are kept apart from the plain ones.
  let query = null;

  function init(tiled, fileName, arrived) {
    info = tiled;
    file = fileName;
    onArrive = arrived;
    cache.clear();
    bytes = 0;
  }

  // The coarsest level whose bucket is at most nsPerPx, or -1 (the slices) when none is.
  function levelFor(nsPerPx) {
    let k = -1;
    for (let q = 0; q < info.levels.length; q++) if (info.levels[q] <= nsPerPx) k = q;
    return k;
  }

  function span(k) {
    return info.buckets * info.levels[Math.max(k, 0)];
  }

  // A tile's blob -> {level, index, t0, t1, A: the arrays drawRow reads, rows: track -> depth -> run}.
  // A.P is the prefix sum of the boxes' counts, so a run of boxes knows how many slices it holds;
  // A.M the same of their matches, for a tile asked with a search query.
  function decode(buf) {
    const b = VT.readBlob(buf), c = b.cols, meta = b.meta;
    const P = new Float64Array(c.count.length + 1);
    for (let i = 0; i < c.count.length; i++) P[i + 1] = P[i] + c.count[i];
    let M = null;
    if (c.match) {
      M = new Float64Array(c.match.length + 1);
      for (let i = 0; i < c.match.length; i++) M[i + 1] = M[i] + c.match[i];
    }
    const rows = {};
    for (let q = 0; q < meta.rows.length; q += 4) {
      const t = meta.rows[q], d = meta.rows[q + 1];
      (rows[t] = rows[t] || [])[d] = { first: meta.rows[q + 2], count: meta.rows[q + 3] };
    }
    return { level: meta.level, index: meta.index, t0: meta.t0, t1: meta.t1, rows: rows,
      A: { S: c.start, D: c.dur, N: c.name, C: c.count, F: c.first, P: P, M: M } };
  }

  function fetchTile(k, j, key) {
    cache.set(key, { pending: true });
    fetch("/api/tile?file=" + encodeURIComponent(file) + "&level=" + k + "&index=" + j +
      (query ? "&q=" + encodeURIComponent(query) : ""))
      .then(function (resp) {
        if (resp.ok) return resp.arrayBuffer();
        return resp.text().then(function (t) { throw new Error((t || "").trim() || "HTTP " + resp.status); });
      })
      .then(function (buf) {
        const t = decode(buf);
        t.bytes = buf.byteLength;
        bytes += t.bytes;
        cache.set(key, t);
      })
      .catch(function (e) {
        cache.set(key, { error: e.message || String(e) });
        VT.banner("error", "A part of the trace could not be loaded: " + (e.message || e));
      })
      .then(function () {
        trim();
        if (onArrive) onArrive();
      });
  }

  function trim() {
    if (cache.size <= KEEP && bytes <= KEEP_BYTES) return;
    for (const [key, t] of cache) {
      if (cache.size <= KEEP && bytes <= KEEP_BYTES) break;
      if (!t.pending && !inView.has(key)) { // the view's own tiles stay, whatever they weigh
        cache.delete(key);
        bytes -= t.bytes || 0;
      }
    }
  }

  // The tiles covering [v0, v1] at `scale` px per ns: {level, tiles (loaded, by index), missing
  // (how many are still on their way), fallback}. Missing ones are asked for; meanwhile
  // `fallback` lists tiles of other levels already here that cover their time, each as
  // {tile, a, b} (draw only its boxes that start in [a, b)), so a zoom or pan shows the
  // coarser (or finer) picture at once instead of a blank stretch.
  function forView(v0, v1, scale, end) {
    const k = levelFor(1 / scale), w = span(k);
    const j0 = Math.max(0, Math.floor(Math.max(v0, 0) / w)), j1 = Math.floor(Math.max(Math.min(v1, end), 0) / w);
    const out = [], fallback = [];
    let missing = 0;
    inView = new Set();
    for (let j = j0; j <= j1; j++) {
      const key = k + ":" + j + (query ? "?" + query : "");
      inView.add(key);
      let t = cache.get(key);
      if (t === undefined) {
        fetchTile(k, j, key);
        t = cache.get(key);
      } else {
        cache.delete(key); // most recently used last
        cache.set(key, t);
      }
      if (t.pending) {
        missing++;
        standIns(k, j * w, (j + 1) * w, fallback);
      } else if (!t.error) out.push(t);
    }
    return { level: k, tiles: out, missing: missing, fallback: fallback };
  }

  // Tile (k, j) if it is here: asked with the current search, else without one.
  function loaded(k, j) {
    const asked = query ? cache.get(k + ":" + j + "?" + query) : null;
    const t = asked && !asked.pending && !asked.error ? asked : cache.get(k + ":" + j);
    return t && !t.pending && !t.error ? t : null;
  }

  // What is here for [a, b) of level k: the same tile without the search (a search just
  // typed asks for its tiles again), else the one coarser tile that holds it (the nearest
  // level up that has it), else the tiles of the next finer level that are here (the view
  // before a zoom out). Never fetched: they only stand in.
  function standIns(k, a, b, out) {
    const same = query ? loaded(k, Math.floor(a / span(k))) : null;
    if (same) {
      out.push({ tile: same, a: a, b: b });
      return;
    }
    for (let c = k + 1; c < info.levels.length; c++) {
      const t = loaded(c, Math.floor(a / span(c)));
      if (t) {
        out.push({ tile: t, a: a, b: b });
        return;
      }
    }
    if (k < 0) return;
    const f = k - 1, w = span(f);
    for (let j = Math.floor(a / w); j * w < b; j++) {
      const t = loaded(f, j);
      if (t) out.push({ tile: t, a: Math.max(a, j * w), b: Math.min(b, (j + 1) * w) });
    }
  }

  function stats() {
    let loaded = 0, pending = 0;
    for (const t of cache.values()) {
      if (t.pending) pending++;
      else if (!t.error) loaded++;
    }
    return { loaded: loaded, pending: pending, bytes: bytes };
  }

  function setBudget(n) {
    KEEP_BYTES = n;
    trim();
  }

  // The search the tiles are asked with from now on (lower-cased text; null: none).
  function setQuery(q) {
    query = q || null;
  }

  return { init: init, forView: forView, levelFor: levelFor, span: span, stats: stats, setBudget: setBudget,
    setQuery: setQuery };
})();
