// While the server converts a large trace: a progress bar instead of a blank page. The page
// polls /api/progress while its /api/trace request is pending; the bar goes when the timeline
// is drawn (the server's answer can take a while to arrive and decode: it says so meanwhile).
"use strict";
var VT = (window.VT = window.VT || {});

VT.POLL_MS = 200;

const PHASES = {
  waiting: "Waiting to convert",
  cache: "Reading the saved conversion",
  reading: "Reading the report",
  scanning: "Converting",
  building: "Laying out the slices",
};

// Start watching `file`; the object returned is told when the answer came and when it is drawn.
VT.watchProgress = function (file) {
  const box = document.getElementById("progress");
  const label = document.getElementById("progress-label");
  const bar = document.getElementById("progress-bar");
  let timer = null;
  let polling = true;
  const show = function (text, fraction) {
    label.textContent = text;
    if (fraction === null) bar.removeAttribute("value");  // indeterminate
    else bar.value = fraction;
    box.hidden = false;
  };
  const poll = function () {
    fetch("/api/progress?file=" + encodeURIComponent(file))
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!polling) return;
        if (p && p.state === "converting") show(VT.progressText(p), VT.progressFraction(p));
        // converted, but the answer is still being made (a large trace's tiles) or sent
        else if (p && p.state === "ready" && !box.hidden) show("Preparing the timeline\u2026", null);
        timer = setTimeout(poll, VT.POLL_MS);
      })
      .catch(function () { if (polling) timer = setTimeout(poll, VT.POLL_MS); });
  };
  // Not at once: a trace converted (or cached) already answers before the first poll.
  timer = setTimeout(poll, VT.POLL_MS);
  const stopPolling = function () {
    polling = false;
    clearTimeout(timer);
  };
  return {
    received: function () {
      stopPolling();
      if (!box.hidden) show("Drawing the timeline", null);
    },
    done: function () {
      stopPolling();
      box.hidden = true;
    },
  };
};

VT.progressText = function (p) {
  const what = PHASES[p.phase] || "Converting";
  if (p.phase !== "scanning" && p.phase !== "building") return what + "\u2026";
  let text = what + ": " + p.events.toLocaleString("en-US") + " events read";
  if (p.phase === "scanning" && p.bytes_total > 0) {
    text += " (" + Math.floor(100 * p.bytes_read / p.bytes_total) + "% of the file)";
  }
  return text + "\u2026";
};

// The fraction of the file read, or null (an indeterminate bar) when it is not known.
VT.progressFraction = function (p) {
  if (p.phase === "building") return 1;
  return p.bytes_total > 0 ? Math.min(1, p.bytes_read / p.bytes_total) : null;
};
