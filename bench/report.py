#!/usr/bin/env python3
"""Turns bench/run.sh's raw results into bench/results/<date>.json, the tables
in docs/benchmarks.md (between <!-- BEGIN name --> and <!-- END name -->
markers) and PNG plots drawn with gnuplot. Medians with min-max over the runs
of each cell; ratios are of medians measured in the same run."""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
from collections import defaultdict

# The reference figure the handoff target is set against (folly 2023.02,
# runInEventBaseThread, 2 producers) when the run has no folly-post cell of
# its own (no --folly-build): spool must reach 10x its upper end.
FOLLY_HANDOFF_MSGS_PER_S = 3.1e6

# With --folly-build, run.sh labels the two builds' spool cells and runs the
# folly build's spoold under these names.
LIBEVENT_SPOOL, FOLLY_SPOOL = "spool-libevent", "spool-folly"
SPOOLD_BACKENDS = [("spoold-inline", "spoold-folly-inline"), ("spoold-workers", "spoold-folly-workers")]


def median_range(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def si(value):
    if value is None or value < 0:  # negative: not measured (see the handoff notes)
        return "-"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            v = value / div
            return f"{v:.{0 if v >= 100 else 1 if v >= 10 else 2}f}{suffix}"
    return f"{value:.3g}"


def cell(stat, fmt=si):
    if stat is None:
        return "-"
    if stat["n"] == 1:
        return fmt(stat["median"])
    return f"{fmt(stat['median'])} ({fmt(stat['min'])}–{fmt(stat['max'])})"


def us(ns):
    return "-" if ns is None else (f"{ns:.0f} ns" if ns < 1000 else f"{ns / 1000:.1f} µs" if ns < 1e6 else f"{ns / 1e6:.2f} ms")


def us_from_us(v):
    return "-" if v is None else (f"{v:.0f} µs" if v < 1000 else f"{v / 1000:.1f} ms")


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def ratio(a, b):
    return a / b if a is not None and b else None


def verdict(ok):
    return "**met**" if ok else "**missed**"


# ---------------------------------------------------------------- aggregation

def aggregate(raw):
    handoff = defaultdict(lambda: defaultdict(list))
    stream = defaultdict(lambda: defaultdict(list))
    server = defaultdict(lambda: defaultdict(list))
    failures, skipped = [], []
    for line in raw:
        part, c, r = line["part"], line["cell"], line["result"]
        if part == "handoff":
            for s in r["results"]:
                key = (c["producers"], c["loops"], s["strategy"])
                if not s.get("ok", True):
                    failures.append(f"handoff {key}: {s.get('error')}")
                for k, v in s.items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        handoff[key][k].append(v)
        elif part == "stream":
            key = (c["msg_size"], c["producers"], stream_mode(c))
            client, srv = r["client"], r["server"]
            if "error" in client or "error" in srv:
                failures.append(f"stream {key}: {client.get('error') or srv.get('error')}")
                continue
            if client.get("frames_bad"):
                failures.append(f"stream {key}: {client['frames_bad']} bad frames")
            if client.get("tls_failures"):
                failures.append(f"stream {key}: {client['tls_failures']} TLS handshakes failed")
            for k in ("msgs_per_s", "mb_per_s", "p50_us", "p99_us", "p999_us", "max_us", "frames_bad"):
                stream[key][k].append(client.get(k))
            stream[key]["server_cpu_s"].append(srv["cpu_user_s"] + srv["cpu_sys_s"])
            stream[key]["server_cpu_per_gb"].append(
                (srv["cpu_user_s"] + srv["cpu_sys_s"]) / max(srv["seconds"], 1e-9) / max(client["mb_per_s"] / 1000, 1e-9))
        elif part == "server":
            key = (c["scenario"], c["server"], c["threads"])
            if "skipped" in r:
                skipped.append(f"server {key}: {r['skipped']}")
                continue
            if "error" in r:
                failures.append(f"server {key}: {r['error']}")
                continue
            if r.get("errors"):
                failures.append(f"server {key}: {r.get('first_error')}")
            for k in ("ops_per_s", "ops_per_server_cpu_s", "p50_us", "p99_us", "p999_us", "max_us", "errors"):
                server[key][k].append(r.get(k))
    summarize = lambda d: {k: {m: median_range(v) for m, v in metrics.items()} for k, metrics in d.items()}
    return summarize(handoff), summarize(stream), summarize(server), failures, sorted(set(skipped))


def stream_mode(c):
    """A stream cell's mode (its label, where run.sh gave one), "+tls" appended for its TLS twin."""
    return c.get("label", c["mode"]) + ("+tls" if c.get("tls") else "")


def med(stats, key, metric):
    s = stats.get(key, {}).get(metric)
    return None if s is None else s["median"]


def range_of(stats, key, metric="mb_per_s"):
    """"min–max" of a cell's metric over its repetitions, so a verdict shows how much it moved."""
    s = stats.get(key, {}).get(metric)
    return "-" if s is None else f"{s['min']:.0f}–{s['max']:.0f}"


# ---------------------------------------------------------------- handoff

HANDOFF_ORDER = ["spool", "spool-rearm", "mutex", "eventfd", "locked", "wait", "folly-post"]


def handoff_markdown(h):
    if not h:
        return "_Not run._"
    parts = []
    configs = sorted({(p, l) for p, l, _ in h})
    for p, l in configs:
        rows = []
        mutex = med(h, (p, l, "mutex"), "msgs_per_s")
        for s in HANDOFF_ORDER:
            k = (p, l, s)
            if k not in h:
                continue
            m = h[k]
            rows.append([f"`{s}`", cell(m.get("msgs_per_s")),
                         f"{ratio(med(h, k, 'msgs_per_s'), mutex):.2f}×" if mutex else "-",
                         us(med(h, k, "send_ns_mean")), us(med(h, k, "send_p999_ns")), us(med(h, k, "send_max_ns")),
                         us(med(h, k, "latency_p50_ns")), us(med(h, k, "latency_p99_ns")),
                         us(med(h, k, "latency_p999_ns")),
                         f"{med(h, k, 'eventfd_writes_per_msg'):.4f}", f"{med(h, k, 'voluntary_switches_per_msg'):.4f}",
                         si(med(h, k, "producer_libevent_locks")), si(med(h, k, "pending_rearms"))])
        parts.append(f"**{p} producer(s) → {l} loop(s)**\n\n" + table(
            ["strategy", "msgs/s median (min–max)", "vs mutex", "send mean", "send p99.9", "send max",
             "handoff p50", "p99", "p99.9", "eventfd writes/msg", "vol. switches/msg", "producer libevent locks",
             "drains stopped by a half-done push"],
            rows))
    return "\n\n".join(parts)


def handoff_targets(h):
    if not h:
        return []
    out = []
    r1 = ratio(med(h, (1, 1, "spool"), "msgs_per_s"), med(h, (1, 1, "mutex"), "msgs_per_s"))
    r4 = ratio(med(h, (4, 1, "spool"), "msgs_per_s"), med(h, (4, 1, "mutex"), "msgs_per_s"))
    if r1 is not None:
        out.append(["handoff: spool ≥ 1.0× mutex, 1 producer, 1 loop", f"{r1:.2f}×", verdict(r1 >= 1.0)])
    if r4 is not None:
        out.append(["handoff: spool ≥ 1.5× mutex, 4 producers, 1 loop", f"{r4:.2f}×", verdict(r4 >= 1.5)])
    s2, f2 = med(h, (2, 1, "spool"), "msgs_per_s"), med(h, (2, 1, "folly-post"), "msgs_per_s")
    if s2 is not None and f2:
        out.append(["handoff: spool ≥ 10× folly-post (runInEventBaseThread, same run), 2 producers, 1 loop",
                    f"{s2 / f2:.1f}×", verdict(s2 >= 10 * f2)])
    elif s2 is not None:
        out.append(["handoff: spool ≥ 10× folly runInEventBaseThread (3.1 M/s), 2 producers",
                    f"{s2 / FOLLY_HANDOFF_MSGS_PER_S:.1f}×", verdict(s2 >= 10 * FOLLY_HANDOFF_MSGS_PER_S)])
    worse = []
    for (p, l, s) in h:
        if s != "spool" or (p, l, "mutex") not in h:
            continue
        for metric in ("send_p999_ns", "send_max_ns"):
            if med(h, (p, l, "spool"), metric) >= med(h, (p, l, "mutex"), metric):
                worse.append(f"{metric} at P={p} L={l}")
    out.append(["handoff: spool's send p99.9 and max below mutex's, every P×L",
                "all below" if not worse else "not below: " + ", ".join(sorted(worse)), verdict(not worse)])
    wr = max(med(h, k, "eventfd_writes_per_msg") for k in h if k[2] == "spool")
    out.append(["handoff: ≤ 0.01 eventfd writes per message", f"{wr:.4f} (worst cell)", verdict(wr <= 0.01)])
    # Producer locks: spool's loops run on lock-free bases, so the benchmark
    # cannot count them; tests/libevent_backend/lock_count_test.cpp proves it.
    return out


# ---------------------------------------------------------------- stream

STREAM_ORDER = ["raw-loop", "raw-loop+tls", "loop", "loop+tls", "spool", "spool+tls", LIBEVENT_SPOOL,
                LIBEVENT_SPOOL + "+tls", FOLLY_SPOOL, FOLLY_SPOOL + "+tls", "post", "locked", "folly-post", "folly-wait"]


def is_loop(mode):
    """Modes that generate on the loop thread (no producers): spool's `loop`, plain libevent's `raw-loop`
    (and their TLS twins)."""
    return mode.split("+")[0] in ("loop", "raw-loop")


def stream_key(size, producers, mode):
    return (size, 1 if is_loop(mode) else producers, mode)


def tls_vs_plain(st, k, metric="mb_per_s"):
    """TLS cell k's median over its plain twin's, same run; None for plain cells."""
    if not k[2].endswith("+tls"):
        return None
    return ratio(med(st, k, metric), med(st, (k[0], k[1], k[2][:-len("+tls")]), metric))


def stream_markdown(st):
    if not st:
        return "_Not run._"
    parts = []
    for size in sorted({k[0] for k in st}):
        for producers in sorted({k[1] for k in st if k[0] == size and not is_loop(k[2])}):
            rows = []
            modes = [m for m in STREAM_ORDER if stream_key(size, producers, m) in st]
            if not any(m.endswith("+tls") and not is_loop(m) for m in modes):
                modes = [m for m in modes if not m.endswith("+tls")]  # loop+tls alone says nothing here
            note = ("; `+tls`: the same cell over TLS, run right after the plain one; its × raw-loop is of "
                    "`raw-loop+tls` (plain libevent with OpenSSL on the socket), its % of loop of "
                    "`loop+tls`") if any(m.endswith("+tls") for m in modes) else ""
            for mode in modes:
                k = stream_key(size, producers, mode)
                tls = mode.endswith("+tls")
                raw = med(st, stream_key(size, producers, "raw-loop+tls" if tls else "raw-loop"), "mb_per_s")
                loop = med(st, stream_key(size, producers, "loop+tls" if tls else "loop"), "mb_per_s")
                m = st[k]
                tr = tls_vs_plain(st, k)
                rows.append([f"`{mode}`", cell(m["msgs_per_s"]), cell(m["mb_per_s"]),
                             f"{ratio(med(st, k, 'mb_per_s'), raw):.2f}×" if raw else "-",
                             f"{100 * ratio(med(st, k, 'mb_per_s'), loop):.0f}%" if loop else "-"]
                            + ([] if not note else ["-" if tr is None else f"{tr:.2f}×"]) + [
                             us_from_us(med(st, k, "p50_us")), us_from_us(med(st, k, "p99_us")),
                             us_from_us(med(st, k, "p999_us")), f"{med(st, k, 'server_cpu_per_gb'):.2f}",
                             f"{med(st, k, 'frames_bad'):.0f}"])
            parts.append(f"**{size} B messages, {producers} producer(s)** (`raw-loop`: plain libevent, frames "
                         f"generated on its loop thread; `loop`: spool's loop generates them{note})\n\n" + table(
                ["mode", "msgs/s median (min–max)", "MB/s", "× raw-loop", "% of loop"] + (["TLS / plain MB/s"] if note else [])
                + ["p50", "p99", "p99.9", "server CPU-s per GB", "bad frames"], rows))
    return "\n\n".join(parts)


def tls_summary(st):
    """[(size, producers, mode, plain MB/s, TLS MB/s, ratio)] for every TLS stream cell."""
    out = []
    for k in sorted(st):
        tr = tls_vs_plain(st, k)
        if tr is not None:
            plain = (k[0], k[1], k[2][:-len("+tls")])
            out.append({"msg_size": k[0], "producers": k[1], "mode": plain[2],
                        "plain_mb_per_s": med(st, plain, "mb_per_s"), "tls_mb_per_s": med(st, k, "mb_per_s"),
                        "tls_over_plain": tr,
                        "plain_cpu_per_gb": med(st, plain, "server_cpu_per_gb"),
                        "tls_cpu_per_gb": med(st, k, "server_cpu_per_gb")})
    return out


def spool_mode(st):
    """The name of --build's spool cells: "spool", or "spool-libevent" beside a folly build's."""
    return LIBEVENT_SPOOL if any(k[2] == LIBEVENT_SPOOL for k in st) else "spool"


def stream_targets(st):
    out = []
    spool_name = spool_mode(st)
    for size in sorted({k[0] for k in st}):
        loop = med(st, (size, 1, "loop"), "mb_per_s")
        for producers in sorted({k[1] for k in st if k[0] == size and k[2] == spool_name}):
            spool = med(st, (size, producers, spool_name), "mb_per_s")
            raw = med(st, (size, 1, "raw-loop"), "mb_per_s")
            if raw and spool is not None:
                out.append([f"stream {size} B, {producers} producer(s): spool ≥ 1.0× raw libevent loop-generated",
                            f"{spool / raw:.2f}× ({range_of(st, (size, producers, spool_name))} vs "
                            f"{range_of(st, (size, 1, 'raw-loop'))} MB/s)", verdict(spool >= raw)])
                scpu = med(st, (size, producers, spool_name), "server_cpu_per_gb")
                rcpu = med(st, (size, 1, "raw-loop"), "server_cpu_per_gb")
                if scpu is not None and rcpu is not None:
                    out.append([f"stream {size} B, {producers} producer(s): spool CPU per GB ≤ raw libevent's",
                                f"{scpu:.2f} vs {rcpu:.2f} s/GB", verdict(scpu <= rcpu)])
            if loop and spool is not None:
                out.append([f"stream {size} B, {producers} producer(s): spool ≥ 90% of loop",
                            f"{100 * spool / loop:.0f}%", verdict(spool >= 0.9 * loop)])
            sp99 = med(st, (size, producers, spool_name), "p99_us")
            pp99 = med(st, (size, producers, "post"), "p99_us")
            if sp99 is not None and pp99 is not None:
                out.append([f"stream {size} B, {producers} producer(s): spool p99 ≤ post p99",
                            f"{us_from_us(sp99)} vs {us_from_us(pp99)}", verdict(sp99 <= pp99)])
    for t in tls_summary(st):
        if t["mode"] == spool_name and t["msg_size"] in (1024, 16384):
            out.append([f"stream {t['msg_size']} B, {t['producers']} producer(s): spool over TLS ≥ 0.6× plain TCP",
                        f"{t['tls_over_plain']:.2f}×", verdict(t["tls_over_plain"] >= 0.6)])
    # Over TLS the upper bound is raw-loop+tls: plain libevent, OpenSSL on the
    # socket, an SSL_write per 16 KiB of frames made on the loop thread.
    for size in (1024, 16384):
        raw_key = (size, 1, "raw-loop+tls")
        raw = med(st, raw_key, "mb_per_s")
        for producers in sorted({k[1] for k in st if k[0] == size and k[2] == spool_name + "+tls"}):
            key = (size, producers, spool_name + "+tls")
            spool = med(st, key, "mb_per_s")
            if raw and spool is not None:
                out.append([f"stream {size} B, {producers} producer(s): spool over TLS ≥ 0.9× raw OpenSSL "
                            "loop-generated (raw-loop+tls)",
                            f"{spool / raw:.2f}× ({range_of(st, key)} vs {range_of(st, raw_key)} MB/s)",
                            verdict(spool >= 0.9 * raw)])
    return out


# ---------------------------------------------------------------- server

def server_markdown(sv):
    if not sv:
        return "_Not run._"
    parts = []
    for scenario in sorted({k[0] for k in sv}):
        rows = []
        for (sc, name, threads) in sorted(k for k in sv if k[0] == scenario):
            k = (sc, name, threads)
            mc = med(sv, (sc, "memcached", threads), "ops_per_server_cpu_s")
            rows.append([f"`{name}`", threads, cell(sv[k]["ops_per_s"]), cell(sv[k]["ops_per_server_cpu_s"]),
                         f"{ratio(med(sv, k, 'ops_per_server_cpu_s'), mc):.2f}×" if mc else "-",
                         us_from_us(med(sv, k, "p50_us")), us_from_us(med(sv, k, "p99_us")),
                         us_from_us(med(sv, k, "p999_us"))])
        parts.append(f"**{scenario}**\n\n" + table(
            ["server", "threads", "ops/s median (min–max)", "ops per server CPU-s", "vs memcached (CPU)",
             "p50", "p99", "p99.9"], rows))
    return "\n\n".join(parts)


def server_need(scenario, server):
    """Issue 13's target for a spoold cell, as a ratio of memcached's ops per
    server CPU-second in the same run; None where it sets none."""
    inline = server.endswith("-inline")
    if scenario.startswith("get-binary-c50-d16") or scenario.startswith("set1k-binary"):
        return 1.5 if inline else 1.1
    if scenario.startswith("get-binary-tls-c50-d16"):
        return 1.2
    if scenario.startswith("get-binary-c50-d1"):
        return 1.0 if inline else 0.9
    return None


def server_targets(sv):
    out = []
    for (sc, name, threads) in sorted(sv):
        need = server_need(sc, name)
        if name == "memcached" or need is None:
            continue
        r = ratio(med(sv, (sc, name, threads), "ops_per_server_cpu_s"),
                  med(sv, (sc, "memcached", threads), "ops_per_server_cpu_s"))
        if r is None:
            continue
        out.append([f"server {sc}, {threads} thread(s): {name} ≥ {need}× memcached ops/CPU-s", f"{r:.2f}×",
                    verdict(r >= need)])
        # Same connections x depth: the same closed-loop offered concurrency.
        p99, mc99 = med(sv, (sc, name, threads), "p99_us"), med(sv, (sc, "memcached", threads), "p99_us")
        if p99 is not None and mc99 is not None:
            out.append([f"server {sc}, {threads} thread(s): {name} p99 ≤ memcached p99",
                        f"{us_from_us(p99)} vs {us_from_us(mc99)}", verdict(p99 <= mc99)])
    return out


# ---------------------------------------------------------------- libevent backend vs folly backend

def size_name(size):
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def backend_ratios(st, sv):
    """libevent / folly, same-run medians: stream cells (msgs/s of spool from each
    build) and spoold cells (ops per server CPU-second)."""
    rows = []
    for size, producers in sorted({(k[0], k[1]) for k in st if k[2] == FOLLY_SPOOL}):
        lib, fol = (med(st, (size, producers, m), "msgs_per_s") for m in (LIBEVENT_SPOOL, FOLLY_SPOOL))
        rows.append({"part": "stream", "cell": f"{size_name(size)}, {producers} producer(s)",
                     "metric": "msgs/s", "libevent": lib, "folly": fol, "ratio": ratio(lib, fol)})
    for lib_name, folly_name in SPOOLD_BACKENDS:
        for sc, _, threads in sorted(k for k in sv if k[1] == folly_name):
            lib, fol = (med(sv, (sc, n, threads), "ops_per_server_cpu_s") for n in (lib_name, folly_name))
            rows.append({"part": "server", "cell": f"{sc}, --exec={lib_name.split('-')[-1]} -t {threads}",
                         "metric": "ops per server CPU-s", "libevent": lib, "folly": fol,
                         "ratio": ratio(lib, fol)})
    return rows


def folly_post_ratios(h, st):
    """spool (each backend) against folly's own handoff, same-run medians."""
    rows = []
    for size, producers in sorted({(k[0], k[1]) for k in st if k[2] == "folly-post"}):
        m = {mode: med(st, (size, producers, mode), "msgs_per_s")
             for mode in (LIBEVENT_SPOOL, FOLLY_SPOOL, "folly-post", "folly-wait")}
        rows.append({"part": "stream", "msg_size": size, "producers": producers, "msgs_per_s": m,
                     "libevent_over_post": ratio(m[LIBEVENT_SPOOL], m["folly-post"]),
                     "folly_over_post": ratio(m[FOLLY_SPOOL], m["folly-post"]),
                     "libevent_over_wait": ratio(m[LIBEVENT_SPOOL], m["folly-wait"])})
    for p, l in sorted({(k[0], k[1]) for k in h if k[2] == "folly-post"}):
        spool, post = med(h, (p, l, "spool"), "msgs_per_s"), med(h, (p, l, "folly-post"), "msgs_per_s")
        rows.append({"part": "handoff", "producers": p, "loops": l, "spool": spool, "folly_post": post,
                     "spool_over_post": ratio(spool, post)})
    return rows


def times(r):
    return "-" if r is None else f"{r:.2f}×"


def backends_markdown(backends, versus):
    if not backends and not versus:
        return "_Not run (bench/run.sh --folly-build DIR)._"
    parts = []
    if backends:
        parts.append("**libevent backend vs folly backend** (same-run medians; above 1.00× the libevent backend "
                     "is ahead)\n\n" + table(
            ["part", "cell", "metric", "libevent backend", "folly backend", "libevent / folly"],
            [[r["part"], r["cell"], r["metric"], si(r["libevent"]), si(r["folly"]), times(r["ratio"])]
             for r in backends]))
    stream = [r for r in versus if r["part"] == "stream"]
    if stream:
        parts.append("**spool vs folly-post, stream** (msgs/s, same-run medians; `folly-post`: a producer calls "
                     "`runInEventBaseThread` per message, the closure `AsyncSocket::writeChain`; `folly-wait`: "
                     "`runInEventBaseThreadAndWait`, 1 producer only)\n\n" + table(
            ["cell", "spool-libevent", "spool-folly", "folly-post", "folly-wait", "spool-libevent / folly-post",
             "spool-folly / folly-post", "spool-libevent / folly-wait"],
            [[f"{size_name(r['msg_size'])}, {r['producers']} producer(s)"]
             + [si(r["msgs_per_s"][m]) for m in (LIBEVENT_SPOOL, FOLLY_SPOOL, "folly-post", "folly-wait")]
             + [times(r["libevent_over_post"]), times(r["folly_over_post"]), times(r["libevent_over_wait"])]
             for r in stream]))
    handoff = [r for r in versus if r["part"] == "handoff"]
    if handoff:
        parts.append("**spool vs folly-post, handoff** (msgs/s, same-run medians)\n\n" + table(
            ["producers → loops", "spool", "folly-post", "spool / folly-post"],
            [[f"{r['producers']} → {r['loops']}", si(r["spool"]), si(r["folly_post"]), times(r["spool_over_post"])]
             for r in handoff]))
    return "\n\n".join(parts)


def backend_targets(backends, versus):
    out = []
    for r in backends:
        if r["part"] == "stream" and r["ratio"] is not None:
            out.append([f"stream {r['cell']}: libevent backend ≥ 1.0× folly backend", times(r["ratio"]),
                        verdict(r["ratio"] >= 1.0)])
    server = [r for r in backends if r["part"] == "server" and r["ratio"] is not None]
    if server:
        worst = min(server, key=lambda r: r["ratio"])
        out.append(["server: spoold on libevent ≥ 1.0× spoold on folly, ops per server CPU-s, every cell",
                    f"{times(worst['ratio'])} (worst: {worst['cell']})", verdict(worst["ratio"] >= 1.0)])
    for size, need in ((64, 10), (1024, 5)):
        for mode, key in ((LIBEVENT_SPOOL, "libevent_over_post"), (FOLLY_SPOOL, "folly_over_post")):
            cells = [r for r in versus if r["part"] == "stream" and r["msg_size"] == size and r[key] is not None]
            if cells:
                out.append([f"stream {size_name(size)}: {mode} ≥ {need}× folly-post",
                            ", ".join(f"{times(r[key])} ({r['producers']}P)" for r in cells),
                            verdict(all(r[key] >= need for r in cells))])
    return out


# ---------------------------------------------------------------- open loop

def aggregate_part(raw, part, key_fields, metrics):
    """{tuple of the cell's key_fields: {metric: median_range}} over one part's successful cells."""
    cells = defaultdict(lambda: defaultdict(list))
    for line in raw:
        if line["part"] != part or "error" in line["result"]:
            continue
        key = tuple(line["cell"][f] for f in key_fields)
        for m in metrics:
            cells[key][m].append(line["result"].get(m))
    return {k: {m: median_range(v) for m, v in ms.items()} for k, ms in cells.items()}


def aggregate_openloop(raw):
    """{(server, offered rate): {metric: median_range}} from run.sh's openloop cells."""
    return aggregate_part(raw, "openloop", ("server", "rate"), ("ops_per_s", "p50_us", "p99_us", "p999_us", "errors"))


def saturation(ol, server):
    """The lowest offered rate whose median achieved rate fell below 90% of it; None if none did."""
    for rate in sorted({r for s, r in ol if s == server}):
        if med(ol, (server, rate), "ops_per_s") < 0.9 * rate:
            return rate
    return None


def openloop_servers(ol):
    names = {s for s, _ in ol}
    return sorted(names, key=lambda n: (n == "memcached", n))


def openloop_markdown(ol):
    if not ol:
        return "_Not run._"
    servers = openloop_servers(ol)
    rows = []
    for rate in sorted({r for _, r in ol}):
        row = [si(rate)]
        for name in servers:
            k = (name, rate)
            row.append("-" if k not in ol else
                       f"{si(med(ol, k, 'ops_per_s'))} · {us_from_us(med(ol, k, 'p50_us'))} · "
                       f"{us_from_us(med(ol, k, 'p99_us'))}")
        rows.append(row)
    sat = ", ".join(f"`{n}` {si(saturation(ol, n)) + '/s' if saturation(ol, n) else 'not reached'}"
                    for n in servers)
    return ("Each cell: achieved ops/s · p50 · p99 (medians; latency from each request's scheduled time). "
            f"Saturation (achieved < 90% of offered): {sat}.\n\n"
            + table(["offered ops/s"] + [f"`{n}`" for n in servers], rows))


def openloop_targets(ol):
    if "memcached" not in {s for s, _ in ol}:
        return []
    out = []
    mc_sat = saturation(ol, "memcached")
    sustained = sorted(r for s, r in ol if s == "memcached" and (mc_sat is None or r < mc_sat))
    for name in (n for n in openloop_servers(ol) if n != "memcached"):
        worse = [r for r in sustained if (name, r) in ol and
                 med(ol, (name, r), "p99_us") > med(ol, ("memcached", r), "p99_us")]
        missing = [r for r in sustained if (name, r) not in ol]
        out.append([f"open loop: {name} p99 ≤ memcached p99 at every rate memcached sustains (-t 2)",
                    "all " + str(len(sustained)) + " rates" if not worse and not missing else
                    "higher at " + ", ".join(si(r) for r in worse + missing),
                    verdict(not worse and not missing)])
        sat = saturation(ol, name)
        both_unsaturated = sat is None and mc_sat is None
        # Saturating where memcached did not is saturating earlier.
        later = mc_sat is not None and (sat is None or sat > mc_sat)
        out.append([f"open loop: {name} saturates later than memcached",
                    f"{si(sat) + '/s' if sat else 'not reached'} vs {si(mc_sat) + '/s' if mc_sat else 'not reached'}"
                    + (" (neither saturated: raise the rates)" if both_unsaturated else ""),
                    "**unknown**" if both_unsaturated else verdict(later)])
    return out


def openloop_plot(ol, plots_dir):
    """p50 (dashed) and p99 (solid) against offered load, one curve per server."""
    if not ol:
        return ""
    plots = []
    for i, name in enumerate(openloop_servers(ol)):
        data = os.path.join(plots_dir, f"openloop_{name}.dat")
        with open(data, "w") as f:
            for rate in sorted(r for s, r in ol if s == name):
                f.write(f"{rate} {med(ol, (name, rate), 'p50_us'):.6g} {med(ol, (name, rate), 'p99_us'):.6g}\n")
        base = os.path.basename(data)
        plots.append(f"'{base}' using 1:3 with linespoints lw 2 lc {i + 1} title '{name} p99'")
        plots.append(f"'{base}' using 1:2 with linespoints dt 2 lc {i + 1} title '{name} p50'")
    return f"""set terminal pngcairo size 1000,500 noenhanced
set output 'openloop_latency.png'
set title 'open loop: latency against offered load, binary gets, 50 connections, -t 2 (medians)'
set xlabel 'offered ops/s'
set ylabel 'latency (us)'
set format x '%.0s%c'
set logscale y
unset logscale x
set grid
set key outside right
unset style
plot {', '.join(plots)}
"""


# ---------------------------------------------------------------- idle connections

def aggregate_idle(raw):
    """{(server, threads, idle count): {metric: median_range}} from run.sh's idle cells."""
    return aggregate_part(raw, "idle", ("server", "threads", "idle"),
                          ("ops_per_s", "ops_per_server_cpu_s", "p99_us", "idle_open_s",
                           "server_rss_per_idle_conn_bytes"))


def idle_rows(ic):
    """[(server, threads, idle count, alone key, with-idle key)] for every pair run."""
    out = []
    for (name, threads, idle) in sorted(ic):
        if idle > 0 and (name, threads, 0) in ic:
            out.append((name, threads, idle, (name, threads, 0), (name, threads, idle)))
    return out


def idle_markdown(ic):
    if not ic:
        return "_Not run._"
    rows = []
    for name, threads, idle, alone, busy in idle_rows(ic):
        rss = med(ic, busy, "server_rss_per_idle_conn_bytes")
        rows.append([f"`{name}`", threads, cell(ic[alone]["ops_per_s"]), cell(ic[busy]["ops_per_s"]),
                     f"{ratio(med(ic, busy, 'ops_per_s'), med(ic, alone, 'ops_per_s')):.2f}×",
                     cell(ic[busy]["idle_open_s"], lambda v: f"{v:.2f} s"),
                     "-" if rss is None else cell(ic[busy]["server_rss_per_idle_conn_bytes"], lambda v: f"{v:.0f} B")])
    idle = max(k[2] for k in ic)
    return table(["server", "threads", "ops/s, 50 active", f"ops/s, 50 active + {idle} idle", "with / without",
                  f"time to open {idle}", "RSS per idle connection"], rows)


def idle_targets(ic):
    out = []
    for name, threads, idle, alone, busy in idle_rows(ic):
        if name == "memcached":
            continue
        rss = med(ic, busy, "server_rss_per_idle_conn_bytes")
        if rss is not None:
            out.append([f"idle: {name} -t {threads} ≤ 1 KiB RSS per idle connection", f"{rss:.0f} B "
                        f"({range_of(ic, busy, 'server_rss_per_idle_conn_bytes')})", verdict(rss <= 1024)])
        mc = ("memcached", threads, idle)
        if mc in ic:
            t, tm = med(ic, busy, "idle_open_s"), med(ic, mc, "idle_open_s")
            out.append([f"idle: {name} -t {threads} accepts {idle} connections at least as fast as memcached",
                        f"{t:.2f} s vs {tm:.2f} s", verdict(t <= tm)])
        r = ratio(med(ic, busy, "ops_per_s"), med(ic, alone, "ops_per_s"))
        out.append([f"idle: {name} -t {threads} active throughput with {idle} idle ≥ 0.9× without",
                    f"{r:.2f}×", verdict(r >= 0.9)])
    return out


# ---------------------------------------------------------------- memory (-m 64 filled)

def aggregate_memory(raw):
    """{server: {"items": median_range, "rss_growth_kb": median_range}} from run.sh's memory cells."""
    return {k[0]: v for k, v in aggregate_part(raw, "memory", ("server",), ("items", "rss_growth_kb")).items()}


def memory_markdown(mem):
    if not mem:
        return "_Not run._"
    rows = [[f"`{name}`", cell(mem[name]["items"]), cell(mem[name]["rss_growth_kb"], lambda v: f"{v / 1024:.1f} MB")]
            for name in sorted(mem, key=lambda n: (n == "memcached", n))]
    return table(["server", "items kept", "RSS growth"], rows)


def memory_targets(mem):
    if "memcached" not in mem:
        return []
    mc_items, mc_rss = med(mem, "memcached", "items"), med(mem, "memcached", "rss_growth_kb")
    out = []
    for name in sorted(n for n in mem if n != "memcached"):
        items, rss = med(mem, name, "items"), med(mem, name, "rss_growth_kb")
        if None in (items, rss, mc_items, mc_rss):
            continue
        out.append([f"memory: {name} -m 64 full: RSS growth ≤ memcached's, at least as many items",
                    f"{rss / 1024:.1f} vs {mc_rss / 1024:.1f} MB, {items:.0f} vs {mc_items:.0f} items",
                    verdict(rss <= mc_rss and items >= mc_items)])
    return out


# ---------------------------------------------------------------- plots

def gnuplot(script, plots_dir):
    if not shutil.which("gnuplot"):
        print("report.py: gnuplot not found; no plots drawn (install gnuplot-nox)")
        return
    subprocess.run(["gnuplot"], input=script, text=True, check=True, cwd=plots_dir)


def plot_clustered(path, title, ylabel, columns, rows, logscale=False):
    """rows: [(label, [value per column])]; draws a clustered bar chart."""
    data = path + ".dat"
    with open(data, "w") as f:
        for label, values in rows:
            f.write(f"\"{label}\" " + " ".join("NaN" if v is None else f"{v:.6g}" for v in values) + "\n")
    plots = ", ".join(f"'{os.path.basename(data)}' using {i + 2}:xtic(1) title '{c}'" for i, c in enumerate(columns))
    return f"""set terminal pngcairo size 1000,500 noenhanced
set output '{os.path.basename(path)}'
set title '{title}'
set ylabel '{ylabel}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key outside right
set grid ytics
{'set logscale y' if logscale else 'set yrange [0:*]'}
plot {plots}
"""


def backends_plot(backends, versus, plots_dir):
    """Same-run ratios per stream cell: libevent / folly, and spool (each backend) / folly-post."""
    stream = {r["cell"]: r["ratio"] for r in backends if r["part"] == "stream"}
    rows = []
    for r in (r for r in versus if r["part"] == "stream"):
        cell = f"{size_name(r['msg_size'])}, {r['producers']} producer(s)"
        rows.append((cell.replace(" producer(s)", "P"),
                     [stream.pop(cell, None), r["libevent_over_post"], r["folly_over_post"]]))
    rows += [(cell.replace(" producer(s)", "P"), [v, None, None]) for cell, v in stream.items()]
    if not rows:
        return ""
    return plot_clustered(os.path.join(plots_dir, "backends_ratio.png"),
                          "stream: same-run ratios of medians (msgs/s)", "ratio",
                          ["libevent / folly backend", "spool-libevent / folly-post", "spool-folly / folly-post"],
                          rows, True)


def draw_plots(h, st, sv, ol, plots_dir):
    os.makedirs(plots_dir, exist_ok=True)
    script = backends_plot(backend_ratios(st, sv), folly_post_ratios(h, st), plots_dir)
    if h:
        configs = sorted({(p, l) for p, l, _ in h})
        ran = [s for s in HANDOFF_ORDER if any(k[2] == s for k in h)]
        rows = [(f"P{p} L{l}", [med(h, (p, l, s), "msgs_per_s") for s in ran]) for p, l in configs]
        script += plot_clustered(os.path.join(plots_dir, "handoff_throughput.png"),
                                 "handoff: messages/s by strategy (median)", "messages/s", ran, rows, True)
    if st:
        rows = []
        ran = [m for m in STREAM_ORDER if any(k[2] == m for k in st)]
        for size in sorted({k[0] for k in st}):
            for producers in sorted({k[1] for k in st if k[0] == size and not is_loop(k[2])}):
                rows.append((f"{size}B P{producers}",
                             [med(st, stream_key(size, producers, m), "mb_per_s") for m in ran]))
        script += plot_clustered(os.path.join(plots_dir, "stream_throughput.png"),
                                 "stream: MB/s by mode, 16 connections, 1 MiB window (median)", "MB/s",
                                 ran, rows, True)
    script += openloop_plot(ol, plots_dir)
    if script:
        gnuplot(script, plots_dir)
        for name in os.listdir(plots_dir):
            if name.endswith(".dat"):
                os.remove(os.path.join(plots_dir, name))


# ---------------------------------------------------------------- docs

def machine():
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "libevent": run(["pkg-config", "--modversion", "libevent"]),
            "memcached": run(["memcached", "-V"]), "compiler": run(["c++", "--version"]).split("\n")[0]}


def has_block(text, name):
    return f"<!-- BEGIN {name} -->\n" in text and f"\n<!-- END {name} -->" in text


def replace_block(text, name, body):
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(\n<!-- END {name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"report.py: docs have no '{name}' markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def compute_targets(raw):
    """[[target, measured, verdict]] for one run's raw cells, by this file's rules."""
    h, st, sv, _, _ = aggregate(raw)
    ol, ic, mem = aggregate_openloop(raw), aggregate_idle(raw), aggregate_memory(raw)
    return (handoff_targets(h) + stream_targets(st) + server_targets(sv) + openloop_targets(ol)
            + idle_targets(ic) + memory_targets(mem)
            + backend_targets(backend_ratios(st, sv), folly_post_ratios(h, st)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--preload", default="")
    ap.add_argument("--folly", default="", help="folly version and --folly-build's backend, when run with one")
    ap.add_argument("--date", help="when the raw results were measured (default: now)")
    ap.add_argument("--elapsed", type=int, help="seconds the matrix took")
    ap.add_argument("--estimated", type=int, help="seconds run.sh expected it to take")
    ap.add_argument("--docs")
    ap.add_argument("--plots")
    args = ap.parse_args()
    with open(args.raw) as f:
        raw = [json.loads(l) for l in f if l.strip()]
    h, st, sv, failures, skipped = aggregate(raw)
    ol, ic, mem = aggregate_openloop(raw), aggregate_idle(raw), aggregate_memory(raw)
    failures += [f"{line['part']} {line['cell']}: {line['result']['error']}" for line in raw
                 if line["part"] in ("openloop", "idle", "memory") and "error" in line["result"]]
    tls = tls_summary(st)
    backends, versus = backend_ratios(st, sv), folly_post_ratios(h, st)
    targets = compute_targets(raw)
    now = args.date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    info["server_preload"] = args.preload or "none (glibc malloc)"
    if args.folly:
        info["folly"] = args.folly
    key = lambda d: {" / ".join(map(str, k)): v for k, v in d.items()}
    results = {"date": now, "command": args.command, "machine": info, "elapsed_s": args.elapsed,
               "estimated_s": args.estimated, "failures": failures, "skipped": skipped,
               "targets": [{"target": t[0], "measured": t[1], "verdict": t[2].strip("*")} for t in targets],
               "stream_tls_vs_plain": tls}
    if backends or versus:
        results["libevent_vs_folly"] = backends
        results["spool_vs_folly_post"] = versus
    results.update({"handoff": key(h), "stream": key(st), "server": key(sv), "openloop": key(ol), "idle": key(ic), "memory": mem,
                    "raw": raw})
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    for t in targets:
        print(f"{t[2].strip('*'):>6}  {t[0]}: {t[1]}")
    for t in tls:
        print(f"   tls  stream {t['msg_size']} B {t['mode']}, {t['producers']} producer(s): "
              f"{si(t['tls_mb_per_s'])} MB/s over TLS, {si(t['plain_mb_per_s'])} plain: {t['tls_over_plain']:.2f}×")
    for skip in skipped:
        print(f"SKIPPED {skip}")
    for fail in failures:
        print(f"FAILURE {fail}")
    if backends or versus:
        print("\n" + backends_markdown(backends, versus) + "\n")
    if args.docs:
        with open(args.docs) as f:
            text = f.read()
        run_info = (f"Measured {now} with `{args.command}` on {info['cores']} × {info['cpu']}, Linux {info['kernel']}, "
                    f"libevent {info['libevent']}, {info['memcached']}, {info['compiler']}; "
                    + (f"{info['folly']}; " if args.folly else "") +
                    f"servers' LD_PRELOAD: {info['server_preload']}. "
                    f"Raw and summarised results: `bench/results/{os.path.basename(args.out)}`.")
        if args.elapsed is not None:
            run_info += f" The matrix took {args.elapsed // 60} min {args.elapsed % 60:02d} s."
        if skipped:
            run_info += "\n\n**Skipped:** " + "; ".join(skipped)
        if failures:
            run_info += "\n\n**Correctness failures in this run:** " + "; ".join(failures)
        text = replace_block(text, "run", run_info)
        text = replace_block(text, "targets", table(["target", "measured (medians)", "verdict"], targets)
                             if targets else "_No cells run._")
        text = replace_block(text, "handoff", handoff_markdown(h))
        text = replace_block(text, "stream", stream_markdown(st))
        text = replace_block(text, "server", server_markdown(sv))
        if has_block(text, "openloop"):
            text = replace_block(text, "openloop", openloop_markdown(ol))
        if has_block(text, "idle"):
            text = replace_block(text, "idle", idle_markdown(ic))
        if has_block(text, "memory"):
            text = replace_block(text, "memory", memory_markdown(mem))
        if has_block(text, "backends"):
            text = replace_block(text, "backends", backends_markdown(backends, versus))
        elif backends or versus:
            print(f"report.py: {args.docs} has no 'backends' markers; the libevent vs folly tables are in "
                  f"{args.out} only")
        with open(args.docs, "w") as f:
            f.write(text)
    if args.plots:
        draw_plots(h, st, sv, ol, args.plots)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
