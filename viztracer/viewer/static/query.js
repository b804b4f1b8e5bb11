// A tiled trace's search, range statistics and flame graph, asked of the server.
//
// A trace too large to send whole (tiles.js) reaches the page without its slices, so what the
// page computes from them for a whole trace (VT.rangeStats, flame.js's tree, the search's match
// list) is computed by the server over the columns it keeps (viztracer/viewer/query.py), with
// the same rules, and answered as JSON. Each function returns a promise of the answer; an
// error answer rejects it with the server's one-line message.
"use strict";
var VT = (window.VT = window.VT || {});

VT.query = (function () {
  function get(path, params) {
    const q = Object.keys(params).filter(function (k) { return params[k] !== undefined && params[k] !== null; })
      .map(function (k) { return "&" + k + "=" + encodeURIComponent(params[k]); }).join("");
    return fetch(path + "?file=" + encodeURIComponent(window.__vt.file) + q).then(function (resp) {
      if (resp.ok) return resp.json();
      return resp.text().then(function (t) { throw new Error((t || "").trim() || "HTTP " + resp.status); });
    });
  }

  // {query, names: [name indices that match], total: slices that match}; with `dir` (1 or -1)
  // also match: the one after (before) slice `from` (-1: the first or last), or null;
  // {i, rank, start, dur, track, depth, name}.
  function search(text, from, dir) {
    return get("/api/search", { q: text, from: dir ? from : null, dir: dir || null });
  }

  // The statistics of [a, b] ns, as VT.rangeStats answers them.
  function range(a, b, limit) {
    return get("/api/range", { a: a, b: b, limit: limit });
  }

  // The flame graph's nodes, {parent, name, total} in the order they were made (0 the root),
  // of [a, b] ns or, with `sel` >= 0, under that slice.
  function flame(a, b, sel) {
    return get("/api/flame", sel >= 0 ? { i: sel } : { a: a, b: b });
  }

  return { search: search, range: range, flame: flame };
})();
