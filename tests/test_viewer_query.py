"""The server's answers for a tiled trace (viztracer/viewer/query.py, pyx/query.pyx): search,
range statistics and the flame graph, on a small known trace (exact numbers), against a plain
port of the page's own walks on a random one, and through the endpoints."""
from __future__ import annotations

import bisect
import json
import random
import urllib.parse

import pytest
from conftest_viewer_helpers import serving
from test_viewer_tiles import get, random_report, x

from viztracer.viewer.columns import read_blob, report_blob
from viztracer.viewer.query import TraceQuery
from viztracer.viewer.tiles import TiledTrace


def known_report():
    """Thread 1: root 0-100 us > a 0-60 > c 0-30, root > b 60-90; A 200-210 > a 202-207 > a
    203-204 (recursion); thread 2: b 300-301 and bzero, a zero-length call at 60."""
    return {"traceEvents": [
        x("root", 0, 100), x("a", 0, 60), x("c", 0, 30), x("b", 60, 30),
        x("A", 200, 10), x("a", 202, 5), x("a", 203, 1),
        x("b", 300, 1, tid=2), x("bzero", 60, 0, tid=2)]}


@pytest.fixture(scope="module")
def known():
    blob = report_blob(known_report())
    meta, cols = read_blob(blob)
    q = TiledTrace(blob).query
    return meta, cols, q


def at(meta, cols, name, start_us):
    """The position of the slice called ``name`` starting at ``start_us``."""
    return next(i for i in range(len(cols["start"]))
                if meta["names"][cols["name"][i]] == name and cols["start"][i] == start_us * 1000)


def test_search_names_total_and_steps_in_start_order(known):
    meta, cols, q = known
    found = q.search(" a ")
    assert sorted(meta["names"][n] for n in found["names"]) == ["A", "a"] and found["total"] == 4
    assert q.search("ROOT")["total"] == 1 and q.search("nothing")["total"] == 0
    assert q.search("")["names"] == []
    # Forward from nothing: by start, then track, then position; wrapping round at the end.
    order = [at(meta, cols, name, t) for name, t in (("a", 0), ("A", 200), ("a", 202), ("a", 203))]
    cur, seen = -1, []
    for _ in range(5):
        m = q.search("a", cur, 1)["match"]
        seen.append((m["i"], m["rank"]))
        cur = m["i"]
    assert seen == [(order[0], 0), (order[1], 1), (order[2], 2), (order[3], 3), (order[0], 0)]
    m = q.search("a", order[0], 1)["match"]
    assert (m["start"], m["dur"], m["depth"], meta["names"][m["name"]]) == (200000, 10000, 0, "A")
    back = [q.search("a", -1, -1)["match"]["i"]]
    for _ in range(4):
        back.append(q.search("a", back[-1], -1)["match"]["i"])
    assert back == [order[3], order[2], order[1], order[0], order[3]]
    assert q.search("a", order[0], -1)["match"]["rank"] == 3
    # Equal starts: the track decides (b on thread 1 before bzero on thread 2, both at 60 us).
    ties = [q.search("b", -1, 1)["match"]]
    for _ in range(2):
        ties.append(q.search("b", ties[-1]["i"], 1)["match"])
    assert [(t["start"], t["track"], meta["names"][t["name"]]) for t in ties] == [
        (60000, 0, "b"), (60000, 1, "bzero"), (300000, 1, "b")]
    assert q.search("nothing", -1, 1)["match"] is None
    with pytest.raises(ValueError):
        q.search("a", len(cols["start"]), 1)


def test_range_statistics_exact(known):
    _meta, _cols, q = known
    stats = q.range_stats(15000, 75000)
    table = {f["name"]: (f["total"], f["self"], f["count"]) for f in stats["functions"]}
    assert [f["name"] for f in stats["functions"]] == ["root", "a", "c", "b", "bzero"]
    assert table == {"root": (60000, 0, 1), "a": (45000, 30000, 1), "c": (15000, 15000, 1),
                     "b": (15000, 15000, 1), "bzero": (0, 0, 1)}
    assert stats["calls"] == 5 and stats["more"] == 0
    # Recursion: a inside a inside A counts once, by its outermost call; self times stay per call.
    stats = q.range_stats(199000, 211000)
    table = {f["name"]: (f["total"], f["self"], f["count"]) for f in stats["functions"]}
    assert table == {"A": (10000, 5000, 1), "a": (5000, 5000, 2)}
    top = q.range_stats(0, 400000, limit=2)
    assert [f["name"] for f in top["functions"]] == ["root", "a"] and top["more"] == 4
    assert top["functions"][1] == {"name": "a", "total": 65000, "self": 35000, "count": 3}
    # A range touching a call's end only does not count it; nothing at all is an empty table.
    assert "c" not in {f["name"] for f in q.range_stats(30000, 40000)["functions"]}
    assert q.range_stats(500000, 600000) == {"functions": [], "more": 0, "calls": 0}
    with pytest.raises(ValueError):
        q.range_stats(10, 5)


def tree(answer, names):
    """{stack of names: total} of a flame answer."""
    out = {}
    for k in range(len(answer["parent"])):
        stack, j = [], k
        while j >= 0:
            stack.append("all" if answer["name"][j] < 0 else names[answer["name"][j]])
            j = answer["parent"][j]
        out["/".join(reversed(stack))] = answer["total"][k]
    return out


def test_flame_graph_of_a_range_and_of_a_slice(known):
    meta, cols, q = known
    names = meta["names"]
    assert tree(q.flame_range(15000, 75000), names) == {
        "all": 60000, "all/root": 60000, "all/root/a": 45000, "all/root/a/c": 15000, "all/root/b": 15000,
        "all/bzero": 0}
    # The nodes come in the order the page makes them: rows by track, then depth.
    answer = q.flame_range(15000, 75000)
    assert [names[n] if n >= 0 else "all" for n in answer["name"]] == ["all", "root", "a", "b", "c", "bzero"]
    sub = q.flame_slice(at(meta, cols, "A", 200))
    assert tree(sub, names) == {"A": 10000, "A/a": 5000, "A/a/a": 1000}
    assert tree(q.flame_slice(at(meta, cols, "c", 0)), names) == {"c": 30000}
    with pytest.raises(ValueError):
        q.flame_slice(-1)


# -- against the page's own walks, ported as they are, on a random trace ------------------------

def page_range_stats(cols, rows, a, b, nnames):
    """data.js's VT.rangeStats, line by line (rows: (first, count) in track, depth order)."""
    S, D, N, P = cols["start"], cols["dur"], cols["name"], cols["parent"]
    total, self_, count = [0.0] * nnames, [0.0] * nnames, [0] * nnames
    for first, n in rows:
        end = first + n
        i = bisect.bisect_left(S, a, first, end)
        if i > first:
            i -= 1
        while i < end and S[i] <= b:
            s, e = S[i], S[i] + D[i]
            c = min(e, b) - max(s, a)
            if not (c < 0 or (c == 0 and D[i] > 0)):
                nm = N[i]
                count[nm] += 1
                self_[nm] += c
                if P[i] >= 0:
                    self_[N[P[i]]] -= c
                q = P[i]
                while q >= 0 and N[q] != nm:
                    q = P[q]
                if q < 0:
                    total[nm] += c
            i += 1
    return total, self_, count


def page_flame(cols, rows, a, b):
    """flame.js's range walk: {(parent node, name): node}, totals, in the order it makes them."""
    S, D, N, P = cols["start"], cols["dur"], cols["name"], cols["parent"]
    nodes, parents, totals, node_of = {}, [-1], [0.0], {}
    names = [-1]
    for first, n in rows:
        end = first + n
        i = bisect.bisect_left(S, a, first, end)
        if i > first:
            i -= 1
        while i < end and S[i] <= b:
            s, e = max(S[i], a), min(S[i] + D[i], b)
            if not (e < s or (e == s and D[i] > 0)):
                parent = node_of.get(P[i], 0) if P[i] >= 0 else 0
                key = (parent, N[i])
                if key not in nodes:
                    nodes[key] = len(parents)
                    parents.append(parent)
                    names.append(N[i])
                    totals.append(0.0)
                totals[nodes[key]] += e - s
                node_of[i] = nodes[key]
            i += 1
    root = 0.0      # added in order, as the page does (3.12's sum() compensates its rounding)
    for p, t in zip(parents, totals, strict=True):
        if p == 0:
            root += t
    totals[0] = root
    return {"parent": parents, "name": names, "total": totals}


def test_range_statistics_and_flame_graph_match_the_pages_walks():
    report = random_report(seed=5, calls=4000)
    rng = random.Random(9)
    for e in rng.sample(report["traceEvents"], 300):  # recursion: children named as a parent
        if e["ph"] == "X" and e["name"].startswith("g"):
            e["name"] = "f1"
    blob = report_blob(report)
    meta, cols = read_blob(blob)
    q = TraceQuery(meta, TiledTrace(blob).cols)
    flat = meta["rows"]
    rows = [(flat[k + 2], flat[k + 3]) for k in sorted(range(0, len(flat), 4), key=lambda k: flat[k:k + 2])]
    end = meta["end"]
    for _ in range(25):
        a = rng.uniform(-0.1, 1) * end
        b = a + rng.choice([0, 1, 1000, end / 100, end / 3, end])
        total, self_, count = page_range_stats(cols, rows, a, b, len(meta["names"]))
        want = {meta["names"][n]: (total[n], max(self_[n], 0.0), count[n])
                for n in range(len(count)) if count[n]}
        got = q.range_stats(a, b, limit=1000)
        assert {f["name"]: (f["total"], f["self"], f["count"]) for f in got["functions"]} == want
        assert got["calls"] == sum(count)
        assert q.flame_range(a, b) == page_flame(cols, rows, a, b)


def test_tile_asked_with_a_query_counts_each_boxs_matches():
    blob = report_blob(random_report())
    meta, cols = read_blob(blob)
    tiled = TiledTrace(blob, per_tile=64)
    hit = [("f2" in meta["names"][n]) for n in cols["name"]]
    plain = read_blob(tiled.tile(1, 0))[1]
    assert "match" not in plain
    for level in (-1, 1, len(tiled.levels) - 1):
        tmeta, tcols = read_blob(tiled.tile(level, 0, query="F2"))
        assert list(tcols["start"]) == list(read_blob(tiled.tile(level, 0))[1]["start"])
        want = [sum(hit[f:f + c]) for f, c in zip(tcols["first"], tcols["count"], strict=True)]
        assert list(tcols["match"]) == want and 0 < sum(want) < sum(tcols["count"])


def test_endpoints_answer_json_and_one_line_errors(tmp_path):
    (tmp_path / "k.json").write_text(json.dumps(known_report()))
    with serving(tmp_path / "k.json") as (_srv, url):
        def ask(path, **params):
            status, body = get(url + path + "?file=k.json&" + urllib.parse.urlencode(params))
            return status, body
        status, body = ask("/api/search", q="A")
        assert status == 200 and json.loads(body)["total"] == 4
        status, body = ask("/api/search", q="A", dir=1)
        assert json.loads(body)["match"]["rank"] == 0
        status, body = ask("/api/range", a=15000, b=75000, limit=1)
        answer = json.loads(body)
        assert status == 200
        assert answer["functions"] == [{"name": "root", "total": 60000, "self": 0, "count": 1}]
        assert answer["more"] == 4
        status, body = ask("/api/flame", a=15000, b=75000)
        assert status == 200 and json.loads(body)["total"][0] == 60000
        status, body = ask("/api/flame", i=0)
        assert status == 200 and json.loads(body)["parent"][0] == -1
        status, body = get(url + "/api/tile?file=k.json&level=-1&index=0&q=b")
        assert status == 200 and sum(read_blob(body)[1]["match"]) == 3
        for path, params in [("/api/search", {}), ("/api/search", {"q": "a", "dir": "x"}),
                             ("/api/search", {"q": "a", "dir": 1, "from": 99}),
                             ("/api/range", {"a": 1}), ("/api/range", {"a": "nan", "b": 2}),
                             ("/api/range", {"a": 5, "b": 1}), ("/api/flame", {"i": 99}),
                             ("/api/flame", {"a": "x", "b": 1})]:
            status, body = ask(path, **params)
            assert status == 400 and body.count(b"\n") == 1, (path, params, body)
