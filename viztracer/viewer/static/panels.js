// The side panel (details of the selection, source, objects), search, and the banners.
"use strict";
var VT = (window.VT = window.VT || {});

VT.panels = (function () {
  let m, st;

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    for (const c of children || []) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return e;
  }

  function init(model, state) {
    m = model;
    st = state;
    initSearch();
    initProcesses();
    initObjects();
    const md = m.meta.metadata || {};
    if (md.overflow) {
      const dropped = md.dropped_entries ? md.dropped_entries.toLocaleString() + " of the oldest entries were dropped" :
        "the oldest entries were dropped";
      VT.banner("overflow", "The trace buffer was full and wrapped around: " + dropped +
        ", so the start of the run is missing. Record with a larger tracer_entries (now " +
        (md.tracer_entries || "?") + ") to keep all of it.");
    }
    const notes = [];
    if (md.cut_short) {
      // set by the server's reader: the file ends where its writer was killed (or still writes)
      notes.push("This report was cut short: its writer stopped before finishing it, so it ends early.");
    }
    const cut = [], lost = [];
    for (const p of m.meta.processes) {
      const state = VT.processMark(p).state;
      if (state === "cut") cut.push(p.pid);
      else if (state === "lost") lost.push(p.pid);
    }
    const who = function (pids) {
      return pids.length > 1 ? "Processes " + pids.join(", ") + " were" : "Process " + pids[0] + " was";
    };
    if (cut.length) notes.push(who(cut) + " cut short: the data ends early.");
    if (lost.length) notes.push(who(lost) + " lost: no data arrived.");
    if (m.meta.unfinished) {
      notes.push(m.meta.unfinished + " slice(s) had no end event; they are drawn up to the end of the trace.");
    }
    if (notes.length) VT.banner("notice", notes.join(" "));
  }

  // --- details ---------------------------------------------------------------------------
  function row(label, value, id) {
    const attrs = id ? { id: id } : {};
    return el("tr", {}, [el("th", { text: label }), el("td", Object.assign({ text: value }, attrs))]);
  }

  // A value as text: a string as it is, anything else as JSON, on one line when short.
  function valueText(v) {
    if (typeof v === "string") return v;
    const flat = JSON.stringify(v);
    return flat === undefined || flat.length <= 60 ? String(flat) : JSON.stringify(v, null, 1);
  }

  function selfTime(i) {
    const t = m.tracks[m.track[i]];
    const r = t.rows[m.depth[i] + 1];
    let kids = 0;
    if (r) {
      const s = m.start[i], e = s + m.dur[i], end = r.first + r.count;
      for (let k = VT.lowerBound(m.start, s, r.first, end); k < end && m.start[k] < e; k++) {
        if (m.parent[k] === i) kids += m.dur[k];
      }
    }
    return Math.max(m.dur[i] - kids, 0);
  }

  function showSlice(i) {
    showSliceInfo({ name: m.names[m.name[i]], start: m.start[i], dur: m.dur[i], self: selfTime(i),
      track: m.track[i], depth: m.depth[i], args: VT.argsAt(m, m.args[i]) });
  }

  // A slice's details {name, start, dur, self, track, depth, args}: from the columns, or from
  // the server's /api/slice for a tiled trace (`loading` while it has not answered).
  function showSliceInfo(d) {
    const box = document.getElementById("details");
    box.textContent = "";
    const t = m.tracks[d.track];
    box.appendChild(el("h3", { id: "detail-name", text: d.name }));
    const table = el("table", { class: "props" }, [
      row("Start", VT.formatDuration(d.start), "detail-start"),
      row("Timestamp", (m.meta.t0_us + d.start / 1000).toFixed(3) + " \u00b5s (as in the report)", "detail-ts"),
      row("Duration", VT.formatDuration(d.dur), "detail-duration"),
      row("Self time", d.loading ? "\u2026" : VT.formatDuration(d.self), "detail-self"),
      row("Thread", t.name + " (pid " + t.pid + ", tid " + t.tid + ")", "detail-thread"),
      row("Depth", String(d.depth)),
    ]);
    box.appendChild(table);
    if (d.loading) return;
    showArgs(box, d.args);
    showSource(box, d.name);
  }

  // A box of a tiled trace that holds several calls: how many, and that zooming in shows them.
  function showMerged(b) {
    const box = document.getElementById("details");
    box.textContent = "";
    box.appendChild(el("h3", { id: "detail-name", text: b.count.toLocaleString() + " calls" }));
    box.appendChild(el("table", { class: "props" }, [
      row("Mostly", m.names[b.name], "detail-mostly"),
      row("From", VT.formatDuration(b.start), "detail-start"),
      row("Spanning", VT.formatDuration(b.dur), "detail-duration"),
    ]));
    box.appendChild(el("p", { class: "hint", text: "Zoom in to see them one by one." }));
  }

  function isDict(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }

  // A slice's args: its arguments, return value and any other keys (a dict), or the value as
  // JSON (anything else a tool may have written).
  function showArgs(box, args) {
    if (!isDict(args)) {
      if (args !== null && args !== undefined) {
        box.appendChild(el("h4", { text: "Args" }));
        box.appendChild(el("pre", { class: "args", id: "detail-args-value", text: valueText(args) }));
      }
      return;
    }
    const rest = Object.assign({}, args);
    if (rest.func_args && typeof rest.func_args === "object") {
      const t = el("table", { class: "props", id: "detail-args" });
      for (const k of Object.keys(rest.func_args)) t.appendChild(row(k, valueText(rest.func_args[k])));
      box.appendChild(el("h4", { text: "Arguments" }));
      box.appendChild(t);
      delete rest.func_args;
    }
    if ("return_value" in rest) {
      box.appendChild(el("h4", { text: "Return value" }));
      box.appendChild(el("pre", { class: "args", id: "detail-return", text: valueText(rest.return_value) }));
      delete rest.return_value;
    }
    const keys = Object.keys(rest);
    if (keys.length) {
      const t = el("table", { class: "props", id: "detail-other-args" });
      for (const k of keys) t.appendChild(row(k, valueText(rest[k])));
      box.appendChild(el("h4", { text: "Args" }));
      box.appendChild(t);
    }
  }

  // The source panel: file_info.functions maps a name to [file, line], file_info.files maps a
  // file to [source, line count]. A name that is not a recorded function but ends in
  // "(file:line)" (a log_event block) shows that place when its file is in file_info.
  function showSource(box, name) {
    const fi = m.fileInfo || {};
    const where = (fi.functions || {})[name];
    if (where) {
      showSourceAt(box, where[0], where[1], true);
      return;
    }
    const at = /\((.+):(\d+)\)$/.exec(name);
    if (at && (fi.files || {})[at[1]]) showSourceAt(box, at[1], Number(at[2]), true);
  }

  // `file` at `line`: its name, and its text scrolled to the line when file_info holds it (else
  // only the name, when `always`).
  function showSourceAt(box, fileName, lineNo, always) {
    const fi = m.fileInfo || {};
    const where = [fileName, lineNo];
    const file = (fi.files || {})[where[0]];
    if (!file && !always) return;
    box.appendChild(el("h4", { text: "Source" }));
    box.appendChild(el("div", { class: "src-file", id: "source-file", text: where[0] + ":" + where[1] }));
    if (!file) return;
    const pre = el("div", { class: "source", id: "source" });
    const lines = file[0].split("\n");
    let target = null;
    lines.forEach(function (text, k) {
      const line = el("div", { class: "line" + (k + 1 === where[1] ? " current" : ""), "data-line": String(k + 1) },
        [el("span", { class: "ln", text: String(k + 1) }), text]);
      if (k + 1 === where[1]) target = line;
      pre.appendChild(line);
    });
    box.appendChild(pre);
    if (target) pre.scrollTop = Math.max(0, target.offsetTop - pre.offsetTop - 40);
  }

  // Instants that carry a text in their name (VizTracer's log_print and logging handler): the
  // heading is the kind, the text gets a block of its own, every space and line kept.
  const TEXT_INSTANTS = [["print - ", "print", "Printed text"], ["logging - ", "logging", "Logged message"]];

  // Who recorded instant i: its thread (thread scope), else its process and, when known, the
  // thread it came from.
  function recordedBy(i) {
    const track = m.inst.track[i], out = [];
    if (VT.SCOPES[m.inst.scope[i]] !== "t") {
      const p = m.meta.processes[m.inst.proc[i]];
      out.push(row("Process", p ? p.name + " (pid " + p.pid + ")" : "unknown", "detail-process"));
    }
    if (track >= 0) {
      const t = m.tracks[track];
      out.push(row("Thread", t.name + " (pid " + t.pid + ", tid " + t.tid + ")", "detail-thread"));
    }
    return out;
  }

  function showInstant(i) {
    const box = document.getElementById("details");
    box.textContent = "";
    const name = m.names[m.inst.name[i]];
    let title = name, text = null, textLabel = "";
    for (const [prefix, kind, label] of TEXT_INSTANTS) {
      if (name.startsWith(prefix)) {
        title = kind;
        text = name.slice(prefix.length);
        textLabel = label;
        break;
      }
    }
    const scope = VT.SCOPES[m.inst.scope[i]];
    box.appendChild(el("h3", { id: "detail-name", class: "instant-name", text: title }));
    box.appendChild(el("table", { class: "props" }, [
      row("Instant at", VT.formatDuration(m.inst.time[i]), "detail-start"),
      row("Timestamp", (m.meta.t0_us + m.inst.time[i] / 1000).toFixed(3) + " \u00b5s (as in the report)", "detail-ts"),
      row("Scope", VT.SCOPE_NAMES[scope] + " (\"" + scope + "\")", "detail-scope"),
    ].concat(recordedBy(i))));
    if (text !== null) {
      box.appendChild(el("h4", { text: textLabel }));
      box.appendChild(el("pre", { class: "text-block", id: "detail-text", text: text }));
    }
    // An instant's args are shown whatever they are, null included: that is what was logged.
    const args = VT.argsAt(m, m.inst.args[i]);
    box.appendChild(el("h4", { text: "Args" }));
    if (isDict(args)) {
      const t = el("table", { class: "props", id: "detail-other-args" });
      for (const k of Object.keys(args)) t.appendChild(row(k, valueText(args[k])));
      box.appendChild(t);
      // An exception's instant names where it was raised.
      if (typeof args.file === "string" && Number.isInteger(args.line)) showSourceAt(box, args.file, args.line, false);
    } else {
      box.appendChild(el("pre", { class: "args" + (args === null ? " empty" : ""), id: "detail-args-value",
        text: args === null || args === undefined ? "null" : valueText(args) }));
    }
  }

  // A counter's values at one time: for each series (key) the last sample at or before it.
  function showCounter(ci, time) {
    const c = m.meta.counters[ci];
    const box = document.getElementById("details");
    box.textContent = "";
    const p = m.meta.processes.find(function (q) { return q.pid === c.pid; });
    box.appendChild(el("h3", { id: "detail-name", text: c.name }));
    box.appendChild(el("table", { class: "props" }, [
      row("Counter at", VT.formatDuration(time), "detail-start"),
      row("Process", (p ? p.name : "Process") + " (pid " + c.pid + ")", "detail-thread"),
    ]));
    box.appendChild(el("h4", { text: "Values" }));
    const t = el("table", { class: "props", id: "counter-values" });
    for (const v of VT.counterValuesAt(m, c, time)) {
      t.appendChild(row(v.key, v.value === null ? "\u2013 (no sample yet)"
        : VT.formatNumber(v.value) + "   (set at " + VT.formatDuration(v.time) + ")"));
    }
    box.appendChild(t);
  }

  // VizObject writes {"snapshot": {...}} as an object's args, add_object() the args as given:
  // both show the attributes themselves.
  function snapshotOf(args) {
    return isDict(args) && Object.keys(args).length === 1 && "snapshot" in args ? args.snapshot : args;
  }

  function showObject(k) {
    const o = m.meta.objects[k];
    const box = document.getElementById("details");
    box.textContent = "";
    box.appendChild(el("h3", { id: "detail-name", text: o.name }));
    box.appendChild(el("table", { class: "props" }, [row("Id", String(o.id)), row("Process", String(o.pid))]));
    const what = { N: "created", O: "snapshot", D: "destroyed" };
    for (const ev of o.events) {
      const head = (what[ev.ph] || ev.ph) + " at " + VT.formatDuration(ev.time);
      box.appendChild(el("h4", { class: "object-event", text: head }));
      if (ev.args !== null && ev.args !== undefined) {
        box.appendChild(el("pre", { class: "args object-snapshot", "data-ph": ev.ph,
          text: JSON.stringify(snapshotOf(ev.args), null, 1) }));
      }
    }
  }

  // A selected time range: its bounds, then (once the drag has ended) the functions in it.
  function showRange(r, stats, note) {
    const box = document.getElementById("details");
    box.textContent = "";
    box.appendChild(el("h3", { id: "detail-name", text: "Selected range" }));
    box.appendChild(el("table", { class: "props" }, [
      row("Start", VT.formatDuration(r.start), "range-start"),
      row("End", VT.formatDuration(r.end), "range-end"),
      row("Length", VT.formatDuration(r.end - r.start), "range-length"),
    ]));
    if (note) box.appendChild(el("p", { class: "hint", id: "range-note", text: note }));
    if (!stats) return;
    box.appendChild(el("h4", { text: "Functions in the range (time clipped to it)" }));
    if (!stats.functions.length) {
      box.appendChild(el("p", { class: "hint", text: "No slice in this range." }));
      return;
    }
    const head = el("tr", {}, ["Name", "Total", "Self", "Count"].map(function (h) { return el("th", { text: h }); }));
    const body = stats.functions.map(function (f) {
      return el("tr", {}, [el("td", { class: "fn", text: f.name, title: f.name }),
        el("td", { text: VT.formatDuration(f.total) }), el("td", { text: VT.formatDuration(f.self) }),
        el("td", { text: f.count.toLocaleString() })]);
    });
    box.appendChild(el("table", { class: "range-stats", id: "range-stats" }, [el("thead", {}, [head]), el("tbody", {}, body)]));
    if (stats.more) box.appendChild(el("p", { class: "hint", text: "\u2026 and " + stats.more + " more." }));
  }

  function clear() {
    const box = document.getElementById("details");
    box.textContent = "";
    box.appendChild(el("p", { class: "hint", text: "Click a slice, an instant or a counter to see its details; Shift+drag selects a time range." }));
  }

  // --- processes --------------------------------------------------------------------------
  // The processes in the timeline's order, each with its mark ("cut short", "lost — no
  // data"); a click scrolls the timeline to its group. Listed when there is more than one, or
  // when one is marked.
  function initProcesses() {
    const procs = m.meta.processes;
    const marks = procs.map(VT.processMark);
    if (procs.length < 2 && !marks.some(function (k) { return k.text; })) return;
    document.getElementById("processes-box").hidden = false;
    const list = document.getElementById("processes");
    procs.forEach(function (p, k) {
      const a = el("a", { href: "#", "data-pid": String(p.pid), text: p.name + " (pid " + p.pid + ")" });
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        VT.timeline.revealProcess(p.pid);
      });
      const li = el("li", marks[k].state ? { class: marks[k].state } : {},
        marks[k].text ? [a, " ", el("span", { class: "mark", text: marks[k].text })] : [a]);
      list.appendChild(li);
    });
  }

  // --- objects ----------------------------------------------------------------------------
  function initObjects() {
    const objs = m.meta.objects || [];
    if (!objs.length) return;
    document.getElementById("objects-box").hidden = false;
    const list = document.getElementById("objects");
    objs.forEach(function (o, k) {
      const a = el("a", { href: "#", "data-object": String(k), text: o.name + " " + o.id + " (" + o.events.length + " events)" });
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        VT.select({ kind: "object", i: k });
        const first = o.events[0].time, last = o.events[o.events.length - 1].time;
        const pad = Math.max((last - first) * 0.2, 1000);
        VT.timeline.setView(first - pad, last + pad);
      });
      list.appendChild(el("li", {}, [a]));
    });
  }

  // --- search -----------------------------------------------------------------------------
  function initSearch() {
    const input = document.getElementById("search");
    let timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { runSearch(input.value); }, 120);
    });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        ev.preventDefault();
        clearTimeout(timer);
        if (!st.search || st.search.query !== input.value) runSearch(input.value);
        step(ev.shiftKey ? -1 : 1);
      } else if (ev.key === "Escape") {
        input.value = "";
        runSearch("");
      }
    });
    document.getElementById("search-next").addEventListener("click", function () {
      if (!st.search || st.search.query !== input.value) runSearch(input.value);
      step(1);
    });
    document.getElementById("search-prev").addEventListener("click", function () {
      if (!st.search || st.search.query !== input.value) runSearch(input.value);
      step(-1);
    });
  }

  function runSearch(query) {
    const q = query.trim().toLowerCase();
    const count = document.getElementById("search-count");
    if (m.tiled) VT.tiles.setQuery(q);
    if (!q) {
      st.search = null;
      count.textContent = "";
      VT.timeline.requestDraw();
      return;
    }
    if (m.tiled) {
      runTiledSearch(query, q);
      return;
    }
    const names = new Uint8Array(m.names.length);
    m.names.forEach(function (n, k) { if (n.toLowerCase().indexOf(q) >= 0) names[k] = 1; });
    const N = m.name, n = m.count;
    const prefix = new Int32Array(n + 1);
    let total = 0;
    for (let i = 0; i < n; i++) {
      total += names[N[i]];
      prefix[i + 1] = total;
    }
    const matches = new Int32Array(total);
    for (let i = 0, k = 0; i < n; i++) if (names[N[i]]) matches[k++] = i;
    const S = m.start, T = m.track;
    matches.sort(function (a, b) { return S[a] - S[b] || T[a] - T[b] || a - b; });
    st.search = { active: true, query: query, names: names, prefix: prefix, matches: matches, pos: -1 };
    count.textContent = total ? "\u2013 of " + total : "no match";
    VT.timeline.requestDraw();
  }

  // A tiled trace: the server says which names match and how many slices carry them; the
  // search is drawn once that answer is in (tiles are asked with `q` for their matches).
  // Steps go through s.ready one after the other, each from the match the last one reached.
  function runTiledSearch(query, q) {
    const count = document.getElementById("search-count");
    const s = { active: false, tiled: true, query: query, names: new Uint8Array(m.names.length), prefix: null,
      total: 0, pos: -1, current: -1 };
    st.search = s;
    count.textContent = "\u2026";
    s.ready = VT.query.search(q).then(function (answer) {
      if (st.search !== s) return;
      for (const n of answer.names) s.names[n] = 1;
      s.total = answer.total;
      s.active = true;
      count.textContent = s.total ? "\u2013 of " + s.total : "no match";
      VT.timeline.requestDraw();
    });
    s.ready.catch(function (e) {
      if (st.search === s) count.textContent = "search failed: " + (e.message || e);
    });
  }

  function stepTiled(s, dir) {
    s.ready = s.ready.then(function () {
      if (st.search !== s || !s.total) return null;
      return VT.query.search(s.query.trim().toLowerCase(), s.current, dir);
    }).then(function (answer) {
      const hit = answer && answer.match;
      if (!hit || st.search !== s) return;
      s.pos = hit.rank;
      s.current = hit.i;
      document.getElementById("search-count").textContent = s.pos + 1 + " of " + s.total;
      VT.select({ kind: "slice", i: hit.i, box: { start: hit.start, dur: hit.dur, track: hit.track, depth: hit.depth,
        name: hit.name, count: 1 } });
      VT.timeline.reveal(hit.i, hit);
    });
    s.ready.catch(function (e) {
      if (st.search === s) document.getElementById("search-count").textContent = "search failed: " + (e.message || e);
    });
  }

  function step(dir) {
    const s = st.search;
    if (s && s.tiled) {
      stepTiled(s, dir);
      return;
    }
    if (!s || !s.matches.length) return;
    s.pos = s.pos < 0 ? (dir > 0 ? 0 : s.matches.length - 1) : (s.pos + dir + s.matches.length) % s.matches.length;
    document.getElementById("search-count").textContent = s.pos + 1 + " of " + s.matches.length;
    const i = s.matches[s.pos];
    VT.select({ kind: "slice", i: i });
    VT.timeline.reveal(i);
  }

  return { init: init, showSlice: showSlice, showSliceInfo: showSliceInfo, showMerged: showMerged,
    showInstant: showInstant, showCounter: showCounter,
    showObject: showObject, showRange: showRange,
    clear: clear,
    runSearch: runSearch, step: step };
})();

VT.banner = function (id, text) {
  const b = document.getElementById(id);
  if (!b) return;
  b.textContent = text;
  b.hidden = !text;
};
