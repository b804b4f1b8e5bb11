"""Print how fast vizviewer opens and redraws large traces, in headless Chromium.

usage: python benchmarks/viewer_load.py [--sizes 1000000,5000000] [--keep DIR] [--reps 10]
                                       [--formats json,pftrace] [--trace FILE [--no-conversion]]

For each size it writes a synthetic Chrome JSON trace (four threads of random call trees, a
couple of hundred function names, like a traced program with ``tracer_entries`` that large),
then measures:

- conversion: ``viztracer.viewer.columns.trace_blob`` in this process (load + columns);
- first draw: from starting ``vizviewer --server_only --port N <file>`` to the page's first
  drawn timeline (``window.__vt.ready``), with the page's own split (fetch, decode, draw);
- redraw: the time of one frame (``draw()`` on the page) for the whole trace, pans by 10%
  and zooms in steps of 1.5x down to about 1/1000 of the trace: median and worst. A trace
  served as tiles (more slices than the server's tile threshold) is redrawn once the tiles of
  the new view are in; the wait for them is given apart;
- warm: the same again with a second ``vizviewer``, which finds the conversion in its cache;
- memory: the server's peak resident memory, and the page's JS heap after the zooms.

Targets: 1M events first draw <= 1.75 s; 10M first draw <= 3 s cold, <= 1 s warm; 100M
(``--sizes 100000000 --formats pftrace``) <= 30 s cold, <= 2 s warm, server <= 4 GB, JS heap
<= 300 MB; redraw <= 50 ms once tiles are in.
The machines are shared and noisy: run it twice before believing a figure.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
THREADS = 4


def write_trace(path: str, events: int, seed: int = 1) -> int:
    """A Chrome JSON trace of ``events`` X events (parents written after their children)."""
    rng = random.Random(seed)
    names = [f"func_{k} (/src/module_{k % 17}.py:{10 + k})" for k in range(200)]
    pid = 1000
    per_thread = events // THREADS
    written = 0
    with open(path, "w") as f:
        f.write('{"traceEvents":[')
        f.write(f'{{"ph":"M","pid":{pid},"tid":{pid},"name":"process_name","args":{{"name":"MainProcess"}}}}')
        for t in range(THREADS):
            tid = pid + t
            name = "MainThread" if t == 0 else f"Worker-{t}"
            f.write(f',{{"ph":"M","pid":{pid},"tid":{tid},"name":"thread_name","args":{{"name":"{name}"}}}}')
        for t in range(THREADS):
            tid = pid + t
            prefix = f',{{"pid":{pid},"tid":{tid},"ph":"X","cat":"FEE","name":"'
            clock = 1_000_000.0 + rng.random() * 100
            left = per_thread if t < THREADS - 1 else events - per_thread * (THREADS - 1)
            chunk: list[str] = []
            while left > 0:
                # One top-level call: a random tree, walked depth first.
                clock, n = _tree(rng, names, prefix, clock, 0, min(left, rng.randint(1, 400)), chunk)
                left -= n
                clock += rng.random() * 5
                if len(chunk) > 20000:
                    f.write("".join(chunk))
                    chunk.clear()
            f.write("".join(chunk))
            written += per_thread if t < THREADS - 1 else events - per_thread * (THREADS - 1)
        f.write('],"viztracer_metadata":{"version":"bench","overflow":false}}')
    return written


def _tree(rng, names, prefix, start, depth, budget, out) -> tuple[float, int]:
    """Write a call starting at ``start`` with up to ``budget`` events in its subtree."""
    clock = start + rng.random() * 0.5
    used = 1
    if depth < 12:
        while used < budget and rng.random() < 0.8:
            sub = min(budget - used, rng.randint(1, budget))
            clock, n = _tree(rng, names, prefix, clock, depth + 1, sub, out)
            used += n
            clock += rng.random() * 0.3
    clock += 0.2 + rng.random() * 2
    name = names[min(int(rng.expovariate(0.05)), len(names) - 1)]
    out.append(f'{prefix}{name}","ts":{start:.3f},"dur":{clock - start:.3f}}}')
    return clock, used


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_conversion(path: str) -> tuple[float, int]:
    from viztracer.viewer.columns import trace_blob
    t0 = time.perf_counter()
    blob = trace_blob(path)
    return time.perf_counter() - t0, len(blob)


def peak_rss(pid: int) -> int:
    """A process's peak resident memory in bytes (Linux), 0 when unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def set_view(page, start: float, end: float) -> tuple[float, float]:
    """Show [start, end]: (the frame's time in ms, ms waited for tiles before it)."""
    ms = page.evaluate(f"window.__vt.setView({start}, {end})")
    if not page.evaluate("window.__vt.tiles"):
        return ms, 0.0
    t0 = time.perf_counter()
    page.wait_for_function("window.__vt.tiles.pending === 0", timeout=600_000, polling=5)
    waited = (time.perf_counter() - t0) * 1e3
    return page.evaluate("window.__vt.redraw()"), waited


def measure_page(browser, path: str, reps: int, env: dict | None = None) -> dict:
    port = free_port()
    vizviewer = os.path.join(os.path.dirname(sys.executable), "vizviewer")
    t0 = time.perf_counter()
    proc = subprocess.Popen([vizviewer, "--server_only", "--port", str(port), path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://\S+", line)
        if not url:
            raise RuntimeError(f"vizviewer did not say where it serves: {line!r}")
        served = time.perf_counter() - t0
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        opened = time.perf_counter() - t0
        page.goto(url.group(0))
        page.wait_for_function("window.__vt.ready || window.__vt.error", timeout=600_000, polling=20)
        first_draw = time.perf_counter() - t0
        error = page.evaluate("window.__vt.error")
        if error:
            raise RuntimeError(error)
        timing = page.evaluate("window.__vt.timing")
        tiled = bool(page.evaluate("window.__vt.tiles"))
        end = page.evaluate("window.__vt.summary.end")
        waits: list[float] = []
        whole = [set_view(page, 0, end) for _ in range(reps)]
        pans, zooms = [], []
        span = end / 10
        start = end / 3
        for _ in range(reps):  # pans of 10% of a 1/10 view
            start += span * 0.1
            pans.append(set_view(page, start, start + span))
        lo, hi = 0.0, float(end)
        centre = end * 0.4
        while hi - lo > end / 1000:  # zoom in by 1.5x steps around a point
            w = (hi - lo) / 1.5
            lo, hi = centre - w / 2, centre + w / 2
            zooms.append(set_view(page, lo, hi))
        for frames in (whole, pans, zooms):
            waits += [w for _, w in frames]
            frames[:] = [ms for ms, _ in frames]
        # Real input: a key press, timed by the page's own frame.
        frames = page.evaluate("window.__vt.frames")
        page.keyboard.press("d")
        page.wait_for_function(f"window.__vt.frames > {frames}")
        key_ms = page.evaluate("window.__vt.lastDrawMs")
        memory = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0")
        page.close()
        return {"first_draw": first_draw, "timing": timing, "served": served, "opened": opened,
                "whole": whole, "pans": pans, "zooms": zooms,
                "key": key_ms, "heap": memory, "tiled": tiled, "waits": waits, "rss": peak_rss(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--keep", help="write the traces here and keep them (default: a temporary folder)")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--formats", default="json",
                        help="json, pftrace or both (json,pftrace): the .pftrace is the JSON converted")
    parser.add_argument("--no-warm", dest="warm", action="store_false",
                        help="skip the second start (the conversion found in the cache)")
    parser.add_argument("--trace", action="append", default=[],
                        help="measure this trace file instead of synthetic ones (repeatable), e.g. "
                             "a 100M-call .pftrace made by viztracer --stream")
    parser.add_argument("--no-conversion", dest="conversion", action="store_false",
                        help="skip timing trace_blob in this process (it holds a second copy of "
                             "the columns: for the largest traces)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = args.keep or tempfile.mkdtemp(prefix="viewer-bench-")
    os.makedirs(folder, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for path in args.trace:
                measure(browser, path, None, path.rsplit(".", 1)[-1], args.reps, args.warm, folder,
                        args.conversion)
            for size in (int(s) for s in args.sizes.split(",") if not args.trace):
                path = os.path.join(folder, f"bench_{size}.json")
                if not os.path.exists(path):
                    t0 = time.perf_counter()
                    write_trace(path, size)
                    took = time.perf_counter() - t0
                    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.0f} MB) in {took:.1f} s")
                for fmt in args.formats.split(","):
                    if fmt == "pftrace":
                        path = pftrace_of(path)
                    measure(browser, path, size, fmt, args.reps, args.warm, folder, args.conversion)
        finally:
            browser.close()
            if not args.keep:
                shutil.rmtree(folder)   # the traces, and the viewer's cache folder
    return 0


def pftrace_of(json_path: str) -> str:
    """The .pftrace next to a JSON trace, converted once (as viztracer --combine would)."""
    path = json_path[:-len(".json")] + ".pftrace"
    if not os.path.exists(path):
        from viztracer.report import perfetto
        from viztracer.report.loader import load_report
        perfetto.write_from_report(load_report(json_path), path)
    return path


def measure(browser, path: str, size: int | None, fmt: str, reps: int, warm: bool, folder: str,
            conversion: bool = True) -> None:
    what = f"{size:>9,} events" if size is not None else os.path.basename(path)
    if conversion:
        conv, blob_size = measure_conversion(path)
        print(f"{what} ({fmt}, {os.path.getsize(path) / 1e6:.0f} MB): trace_blob {conv:.2f} s, "
              f"blob {blob_size / 1e6:.0f} MB")
    else:
        print(f"{what} ({fmt}, {os.path.getsize(path) / 1e6:.0f} MB)")
    # A cache of our own, emptied first: the first start converts, the second finds it.
    cache = os.path.join(folder, "cache")
    if os.path.isdir(cache):
        for name in os.listdir(cache):
            os.unlink(os.path.join(cache, name))
    env = dict(os.environ, VIZVIEWER_CACHE_DIR=cache)
    r = measure_page(browser, path, reps, env)
    report(r)
    if warm:
        r = measure_page(browser, path, reps, env)
        print(f"  warm (cached) first draw: {r['first_draw']:.2f} s ({page_split(r)}); "
              f"server peak RSS {r['rss'] / 1e6:.0f} MB")


def page_split(r: dict) -> str:
    """Where the first draw's time went, as the page measured it (from its script's start)."""
    t = r["timing"]
    return (f"vizviewer serving after {r['served']:.2f} s, page opened after {r['opened']:.2f} s, "
            f"its script started {t['start'] / 1e3:.2f} s later; then server answered after "
            f"{(t['response'] - t['start']) / 1e3:.2f} s, "
            f"body {(t['received'] - t['response']) / 1e3:.2f} s, "
            f"decode {(t['decoded'] - t['received']) / 1e3:.3f} s, first frame "
            f"{(t['drawn'] - t['decoded']) / 1e3:.3f} s")


def report(r: dict) -> None:
    print(f"  first draw from starting vizviewer: {r['first_draw']:.2f} s ({page_split(r)})")
    for label, values in (("whole trace", r["whole"]), ("pan", r["pans"]), ("zoom", r["zooms"])):
        print(f"  redraw {label:<11}: median {statistics.median(values):6.1f} ms, "
              f"worst {max(values):6.1f} ms ({len(values)} frames)")
    print(f"  redraw after a key press (D): {r['key']:.1f} ms; JS heap {r['heap'] / 1e6:.0f} MB; "
          f"server peak RSS {r['rss'] / 1e6:.0f} MB")
    if r["tiled"]:
        print(f"  served as tiles: waited for tiles after a view change: median "
              f"{statistics.median(r['waits']):.0f} ms, worst {max(r['waits']):.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
