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
# runInEventBaseThread, 2 producers): spool must reach 10x its upper end.
FOLLY_HANDOFF_MSGS_PER_S = 3.1e6


def median_range(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def si(value):
    if value is None:
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
    """A stream cell's mode, "+tls" appended for its TLS twin."""
    return c["mode"] + ("+tls" if c.get("tls") else "")


def med(stats, key, metric):
    s = stats.get(key, {}).get(metric)
    return None if s is None else s["median"]


# ---------------------------------------------------------------- handoff

HANDOFF_ORDER = ["spool", "spool-yield", "mutex", "eventfd", "threadsafe", "wait"]


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
    s2 = med(h, (2, 1, "spool"), "msgs_per_s")
    if s2 is not None:
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
    locks = max(med(h, k, "producer_libevent_locks") for k in h if k[2] == "spool")
    out.append(["handoff: zero producer-side libevent locks", f"{locks:.0f}", verdict(locks == 0)])
    return out


# ---------------------------------------------------------------- stream

STREAM_ORDER = ["loop", "loop+tls", "spool", "spool+tls", "post", "threadsafe"]


def is_loop(mode):
    return mode.split("+")[0] == "loop"


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
            note = ("; `+tls`: the same cell over TLS, run right after the plain one; its % of loop is of "
                    "`loop+tls`") if any(m.endswith("+tls") for m in modes) else ""
            for mode in modes:
                k = stream_key(size, producers, mode)
                loop = med(st, stream_key(size, producers, "loop+tls" if mode.endswith("+tls") else "loop"), "mb_per_s")
                m = st[k]
                tr = tls_vs_plain(st, k)
                rows.append([f"`{mode}`", cell(m["msgs_per_s"]), cell(m["mb_per_s"]),
                             f"{100 * ratio(med(st, k, 'mb_per_s'), loop):.0f}%" if loop else "-"]
                            + ([] if not note else ["-" if tr is None else f"{tr:.2f}×"]) + [
                             us_from_us(med(st, k, "p50_us")), us_from_us(med(st, k, "p99_us")),
                             us_from_us(med(st, k, "p999_us")), f"{med(st, k, 'server_cpu_per_gb'):.2f}",
                             f"{med(st, k, 'frames_bad'):.0f}"])
            parts.append(f"**{size} B messages, {producers} producer(s)** (`loop` generates on the loop thread"
                         f"{note})\n\n" + table(
                ["mode", "msgs/s median (min–max)", "MB/s", "% of loop"] + (["TLS / plain MB/s"] if note else [])
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


def stream_targets(st):
    out = []
    for size in sorted({k[0] for k in st}):
        loop = med(st, (size, 1, "loop"), "mb_per_s")
        for producers in sorted({k[1] for k in st if k[0] == size and k[2] == "spool"}):
            spool = med(st, (size, producers, "spool"), "mb_per_s")
            if loop and spool is not None:
                out.append([f"stream {size} B, {producers} producer(s): spool ≥ 90% of loop",
                            f"{100 * spool / loop:.0f}%", verdict(spool >= 0.9 * loop)])
            sp99 = med(st, (size, producers, "spool"), "p99_us")
            pp99 = med(st, (size, producers, "post"), "p99_us")
            if sp99 is not None and pp99 is not None:
                out.append([f"stream {size} B, {producers} producer(s): spool p99 ≤ post p99",
                            f"{us_from_us(sp99)} vs {us_from_us(pp99)}", verdict(sp99 <= pp99)])
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


def server_targets(sv):
    out = []
    for (sc, name, threads) in sorted(sv):
        if name == "memcached" or not (sc.startswith("get-binary-c50") or sc.startswith("set1k-binary")):
            continue
        r = ratio(med(sv, (sc, name, threads), "ops_per_server_cpu_s"),
                  med(sv, (sc, "memcached", threads), "ops_per_server_cpu_s"))
        if r is None:
            continue
        need = 1.2 if name == "spoold-inline" else 1.0
        out.append([f"server {sc}, {threads} thread(s): {name} ≥ {need}× memcached ops/CPU-s", f"{r:.2f}×",
                    verdict(r >= need)])
        # Same connections x depth: the same closed-loop offered concurrency.
        p99, mc99 = med(sv, (sc, name, threads), "p99_us"), med(sv, (sc, "memcached", threads), "p99_us")
        if p99 is not None and mc99 is not None:
            out.append([f"server {sc}, {threads} thread(s): {name} p99 ≤ memcached p99",
                        f"{us_from_us(p99)} vs {us_from_us(mc99)}", verdict(p99 <= mc99)])
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


def draw_plots(h, st, sv, plots_dir):
    os.makedirs(plots_dir, exist_ok=True)
    script = ""
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
    if sv:
        series = sorted({(name, threads) for (_, name, threads) in sv})
        plots = []
        for name, threads in series:
            data = os.path.join(plots_dir, f"server_{name}_{threads}.dat")
            with open(data, "w") as f:
                for (sc, n, t) in sorted(sv):
                    if n == name and t == threads and sc.startswith("get-"):
                        f.write(f"{med(sv, (sc, n, t), 'ops_per_s'):.6g} {med(sv, (sc, n, t), 'p99_us'):.6g}\n")
            plots.append(f"'{os.path.basename(data)}' using 1:2 with points pointsize 1.5 title '{name} -t {threads}'")
        script += f"""set terminal pngcairo size 1000,500 noenhanced
set output 'server_p99_vs_throughput.png'
set title 'server: p99 latency against throughput, small gets (median per cell)'
set xlabel 'ops/s'
set ylabel 'p99 (us)'
set logscale y
set grid
set key outside right
unset style
plot {', '.join(plots)}
"""
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


def replace_block(text, name, body):
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(\n<!-- END {name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"report.py: docs have no '{name}' markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--preload", default="")
    ap.add_argument("--date", help="when the raw results were measured (default: now)")
    ap.add_argument("--elapsed", type=int, help="seconds the matrix took")
    ap.add_argument("--estimated", type=int, help="seconds run.sh expected it to take")
    ap.add_argument("--docs")
    ap.add_argument("--plots")
    args = ap.parse_args()
    with open(args.raw) as f:
        raw = [json.loads(l) for l in f if l.strip()]
    h, st, sv, failures, skipped = aggregate(raw)
    tls = tls_summary(st)
    targets = handoff_targets(h) + stream_targets(st) + server_targets(sv)
    now = args.date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    info["server_preload"] = args.preload or "none (glibc malloc)"
    key = lambda d: {" / ".join(map(str, k)): v for k, v in d.items()}
    with open(args.out, "w") as f:
        json.dump({"date": now, "command": args.command, "machine": info, "elapsed_s": args.elapsed,
                   "estimated_s": args.estimated, "failures": failures, "skipped": skipped,
                   "targets": [{"target": t[0], "measured": t[1], "verdict": t[2].strip("*")} for t in targets],
                   "stream_tls_vs_plain": tls,
                   "handoff": key(h), "stream": key(st), "server": key(sv), "raw": raw}, f, indent=1)
    for t in targets:
        print(f"{t[2].strip('*'):>6}  {t[0]}: {t[1]}")
    for t in tls:
        print(f"   tls  stream {t['msg_size']} B {t['mode']}, {t['producers']} producer(s): "
              f"{si(t['tls_mb_per_s'])} MB/s over TLS, {si(t['plain_mb_per_s'])} plain: {t['tls_over_plain']:.2f}×")
    for skip in skipped:
        print(f"SKIPPED {skip}")
    for fail in failures:
        print(f"FAILURE {fail}")
    if args.docs:
        with open(args.docs) as f:
            text = f.read()
        run_info = (f"Measured {now} with `{args.command}` on {info['cores']} × {info['cpu']}, Linux {info['kernel']}, "
                    f"libevent {info['libevent']}, {info['memcached']}, {info['compiler']}; "
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
        with open(args.docs, "w") as f:
            f.write(text)
    if args.plots:
        draw_plots(h, st, sv, args.plots)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
