// The trace model: decodes the blob made by viztracer/viewer/columns.py into typed-array views.
//
// Every file of the page is a classic script (no ES modules) that adds to one namespace object,
// window.VT, and they are loaded in a fixed order by index.html. Chromium refuses ES-module
// imports from file:// pages, and the standalone .html report is opened from disk: with classic
// scripts the very same files are served by vizviewer and inlined, unchanged, into the report
// by viztracer/report/html.py, with no build step.
"use strict";
var VT = (window.VT = window.VT || {});

VT.MAGIC = "VZTCOLS1";

// ArrayBuffer -> {meta, cols}: the blob's header and a typed-array view per array (no copy).
// Throws Error with a one-line message when the blob is not ours. Tiles use the same layout.
VT.readBlob = function (buf) {
  const head = new Uint8Array(buf, 0, Math.min(16, buf.byteLength));
  if (buf.byteLength < 16 || String.fromCharCode.apply(null, head.subarray(0, 8)) !== VT.MAGIC) {
    throw new Error("the server did not send a viewer blob (bad magic)");
  }
  const metaLen = new DataView(buf).getUint32(8, true);
  const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 16, metaLen)));
  const cols = {};
  const ctor = { f64: Float64Array, i32: Int32Array, u8: Uint8Array };
  for (const key of Object.keys(meta.arrays)) {
    const [type, offset, length] = meta.arrays[key];
    cols[key] = new ctor[type](buf, offset, length);
  }
  return { meta: meta, cols: cols };
};

// ArrayBuffer -> trace model. A trace too large to send whole comes as an overview: no slice
// columns, and meta.tiled says how to fetch them tile by tile (tiles.js).
VT.decodeBlob = function (buf) {
  const b = VT.readBlob(buf);
  return VT.buildModel(b.meta, b.cols);
};

VT.buildModel = function (meta, c) {
  const m = {
    meta: meta,
    tiled: meta.tiled || null,
    names: meta.names,
    count: meta.slice_count,
    start: c.start, dur: c.dur, name: c.name, track: c.track, depth: c.depth,
    parent: c.parent, args: c.args,
    inst: { time: c.inst_time, track: c.inst_track, name: c.inst_name, args: c.inst_args, proc: c.inst_proc,
      scope: new Uint8Array(c.inst_time.length) },
    cnt: { time: c.cnt_time, value: c.cnt_value },
    argsBytes: c.args_json,
    argsTable: null,
    end: Math.max(meta.end, 1),
    tracks: meta.tracks.map(function (t, i) {
      return { index: i, pid: t.pid, tid: t.tid, name: t.name, rows: [], instFirst: 0, instCount: 0 };
    }),
    // Instants by the lane that shows them: global ones, a process's, a thread's (track.inst*).
    globalInst: { first: 0, count: 0 },
    processInst: {}, // pid -> {first, count}
    fileInfo: meta.file_info || { files: {}, functions: {} },
  };
  const rows = meta.rows;
  for (let i = 0; i < rows.length; i += 4) {
    const t = m.tracks[rows[i]];
    t.rows[rows[i + 1]] = { depth: rows[i + 1], first: rows[i + 2], count: rows[i + 3] };
  }
  for (const t of m.tracks) {
    for (let d = 0; d < t.rows.length; d++) {
      if (!t.rows[d]) t.rows[d] = { depth: d, first: 0, count: 0 };
    }
  }
  // Instants are grouped by lane (global, then per process, then per thread), sorted by time
  // in each: meta.instant_lanes gives every run.
  for (const lane of meta.instant_lanes || []) {
    const run = { first: lane.first, count: lane.count };
    m.inst.scope.fill(VT.SCOPES.indexOf(lane.scope), lane.first, lane.first + lane.count);
    if (lane.scope === "g") m.globalInst = run;
    else if (lane.scope === "p") m.processInst[lane.pid] = run;
    else {
      m.tracks[lane.track].instFirst = lane.first;
      m.tracks[lane.track].instCount = lane.count;
    }
  }
  return m;
};

// What a process's header says besides its name, from the report's process_labels: a child
// process whose data ended early is "cut short", one whose data never arrived is "lost" (and
// has no events at all, only its name). {state: "lost" | "cut" | null, text}, text "" when
// there is nothing to say; labels other than those two are shown as they are.
VT.processMark = function (proc) {
  const labels = proc.labels || [];
  const lower = labels.map(function (l) { return l.toLowerCase(); });
  const others = labels.filter(function (l, k) { return lower[k] !== "lost" && lower[k] !== "cut short"; });
  let state = null, text = "";
  if (lower.indexOf("lost") >= 0) {
    state = "lost";
    text = proc.first === null || proc.first === undefined ? "lost \u2014 no data" : "lost";
  } else if (lower.indexOf("cut short") >= 0) {
    state = "cut";
    text = "cut short";
  }
  if (others.length) text = (text ? text + ", " : "") + others.join(", ");
  return { state: state, text: text };
};

// A thread's (or an asyncio task's) lane label: its name and tid, or "Thread <tid>" when the
// report gives it no name.
VT.threadLabel = function (t) {
  return t.name === "Thread " + t.tid ? t.name : t.name + " (" + t.tid + ")";
};

// An instant's scope ("t" thread, "p" process, "g" global) is m.inst.scope[i], an index here.
VT.SCOPES = ["t", "p", "g"];
VT.SCOPE_NAMES = { t: "thread", p: "process", g: "global" };

// The value of each series of counter c (an entry of meta.counters) at time t (ns): the last
// sample at or before t, or null before the first one. [{key, value, time}] in series order.
VT.counterValuesAt = function (m, c, t) {
  return c.series.map(function (s) {
    const k = VT.lowerBound(m.cnt.time, t + 1e-9, s.first, s.first + s.count) - 1;
    return k >= s.first ? { key: s.key, value: m.cnt.value[k], time: m.cnt.time[k] }
      : { key: s.key, value: null, time: null };
  });
};

// The args object of a slice (or of an instant), parsed from the args table on first use.
VT.argsAt = function (m, index) {
  if (index < 0) return null;
  if (!m.argsTable) m.argsTable = JSON.parse(new TextDecoder().decode(m.argsBytes));
  return m.argsTable[index];
};

// First index in [lo, hi) whose arr value is >= x (arr sorted ascending on that range).
VT.lowerBound = function (arr, x, lo, hi) {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

// A counter's value as text: integers as they are, others to 6 significant digits.
VT.formatNumber = function (v) {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
};

// Times are nanoseconds after the trace's first timestamp.
VT.formatDuration = function (ns) {
  const a = Math.abs(ns);
  if (a < 1e3) return trim(ns.toFixed(0)) + " ns";
  if (a < 1e6) return trim((ns / 1e3).toFixed(3)) + " \u00b5s";
  if (a < 1e9) return trim((ns / 1e6).toFixed(6)) + " ms";
  return trim((ns / 1e9).toFixed(9)) + " s";
  function trim(s) {
    return s.indexOf(".") >= 0 ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
  }
};

// A tick label for time t when ticks are `step` ns apart and times in view reach `extent`:
// the unit follows the largest time shown (deep in a long trace, "4.0123456 s", not a
// ten-digit number of ns), the decimals follow the step.
VT.formatTick = function (t, step, extent) {
  const units = [[1e9, "s"], [1e6, "ms"], [1e3, "\u00b5s"], [1, "ns"]];
  const big = Math.max(Math.abs(extent || 0), step);
  for (const [scale, unit] of units) {
    if (big >= scale || scale === 1) {
      const digits = Math.max(0, Math.ceil(Math.log10(scale / step) - 1e-9));
      return (t / scale).toFixed(Math.min(digits, 9)) + " " + unit;
    }
  }
  return String(t);
};

// Colours by name: a stable hash of the name picks one of a fixed palette.
VT.PALETTE = [
  [0x4e, 0x79, 0xa7], [0xf2, 0x8e, 0x2b], [0xe1, 0x57, 0x59], [0x76, 0xb7, 0xb2],
  [0x59, 0xa1, 0x4f], [0xed, 0xc9, 0x48], [0xb0, 0x7a, 0xa1], [0xff, 0x9d, 0xa7],
  [0x9c, 0x75, 0x5f], [0x86, 0xbc, 0xb6], [0x8c, 0xd1, 0x7d], [0xd3, 0x72, 0x95],
  [0x49, 0x98, 0x94], [0xb6, 0x99, 0x2d], [0x79, 0x70, 0x6e], [0xa0, 0xcb, 0xe8],
];
VT.colorIndexOf = function (name) {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % VT.PALETTE.length;
};
VT.rgbOf = function (name) {
  return VT.PALETTE[VT.colorIndexOf(name)].slice();
};
// The colour of slices that do not match the search: the name's colour washed towards white.
VT.faded = function (rgb) {
  return rgb.map(function (v) { return Math.round(v + (255 - v) * 0.75); });
};
VT.cssOf = function (rgb) {
  return "rgb(" + rgb[0] + "," + rgb[1] + "," + rgb[2] + ")";
};

// Per-name statistics of the slices in the time range [a, b] (ns): total time clipped to the
// range (a call inside another call of the same name is counted once, by its outermost one),
// self time (clipped time minus the clipped time of its children) and the number of calls
// that overlap the range. Walks only the range: in every (track, depth) row a binary search
// finds the first slice in it, as a frame does. Returns {functions: [{name, total, self, count}]
// sorted by total, the first `limit`; more: how many names were left off; calls: all counted}.
VT.rangeStats = function (m, a, b, limit) {
  const S = m.start, D = m.dur, N = m.name, P = m.parent;
  const total = new Float64Array(m.names.length), self = new Float64Array(m.names.length);
  const count = new Int32Array(m.names.length);
  let calls = 0;
  for (const t of m.tracks) {
    for (let d = 0; d < t.rows.length; d++) {
      const row = t.rows[d], end = row.first + row.count;
      let i = VT.lowerBound(S, a, row.first, end);
      if (i > row.first) i--; // the slice before the first start in range may reach into it
      for (; i < end && S[i] <= b; i++) {
        const s = S[i], e = s + D[i];
        const c = Math.min(e, b) - Math.max(s, a);
        if (c < 0 || (c === 0 && D[i] > 0)) continue;
        const n = N[i];
        count[n]++;
        calls++;
        self[n] += c;
        const p = P[i];
        if (p >= 0) self[N[p]] -= c; // a child lies within its parent, so within its clipped part
        let outer = true;
        for (let q = p; q >= 0; q = P[q]) {
          if (N[q] === n) { outer = false; break; }
        }
        if (outer) total[n] += c;
      }
    }
  }
  const used = [];
  for (let n = 0; n < count.length; n++) if (count[n]) used.push(n);
  used.sort(function (p, q) { return total[q] - total[p] || count[q] - count[p] || p - q; });
  const top = used.slice(0, limit || 50).map(function (n) {
    return { name: m.names[n], total: total[n], self: Math.max(self[n], 0), count: count[n] };
  });
  return { functions: top, more: used.length - top.length, calls: calls };
};
