#!/usr/bin/env python3
"""One deep pipeline: N small sets written back to back on one connection
while every reply is read as it comes, timed to the last reply.

Runs spoold (--exec=inline and --exec=workers) and memcached, started here
with the same flags on free loopback ports, in the same run, each --reps
times; prints the median wall time and server CPU seconds per server, and
the ratio of each to memcached's.

    bench/pipeline_sets.py --spoold build-rel/server/spoold [--sets 1000000] [--reps 5] [--json]
"""
import argparse
import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import time

SET = b"set small 0 0 10\r\n0123456789\r\n"
REPLY = b"STORED\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(argv, port):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"{argv[0]} exited: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{argv[0]} did not listen on {port}")


def pipeline(port, sets, limit_s):
    """Writes `sets` sets while reading; returns seconds to the last reply."""
    payload = SET * sets
    expected = len(REPLY) * sets
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    view = memoryview(payload)
    sent = received = 0
    started = time.monotonic()
    while received < expected:
        if time.monotonic() - started > limit_s:
            sys.exit(f"port {port}: {received // len(REPLY)} of {sets} replies after {limit_s} s")
        for _, events in sel.select(timeout=1):
            if events & selectors.EVENT_READ:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    sys.exit(f"port {port}: closed after {received} reply bytes")
                received += len(chunk)
            if events & selectors.EVENT_WRITE and sent < len(payload):
                try:
                    sent += sock.send(view[sent:sent + (1 << 20)])
                except BlockingIOError:
                    pass
                if sent == len(payload):
                    sel.modify(sock, selectors.EVENT_READ)
    elapsed = time.monotonic() - started
    sock.close()
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spoold", required=True)
    ap.add_argument("--memcached", default=shutil.which("memcached") or "")
    ap.add_argument("--sets", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="-t for every server")
    ap.add_argument("--limit", type=float, default=300, help="seconds one pipeline may take")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    common = ["-l", "127.0.0.1", "-m", "64", "-c", "1024", "-t", str(args.threads)]
    if os.geteuid() == 0:
        common += ["-u", "nobody"]  # both refuse to run as root without it
    servers = {
        "spoold-inline": [args.spoold, "--exec=inline"],
        "spoold-workers": [args.spoold, "--exec=workers"],
    }
    if args.memcached:
        servers["memcached"] = [args.memcached, "-U", "0"]
    results = {name: {"seconds": [], "cpu": []} for name in servers}
    for _ in range(args.reps):
        for name, argv in servers.items():  # interleaved: drift hits every server alike
            port = free_port()
            proc = start(argv + common + ["-p", str(port)], port)
            try:
                cpu0 = cpu_seconds(proc.pid)
                results[name]["seconds"].append(pipeline(port, args.sets, args.limit))
                results[name]["cpu"].append(cpu_seconds(proc.pid) - cpu0)
            finally:
                proc.terminate()
                proc.wait(timeout=20)

    summary = {}
    for name, r in results.items():
        summary[name] = {"median_s": statistics.median(r["seconds"]), "median_cpu_s": statistics.median(r["cpu"]),
                         "runs_s": r["seconds"]}
    base = summary.get("memcached")
    for s in summary.values():
        s["vs_memcached"] = s["median_s"] / base["median_s"] if base else None
    if args.json:
        print(json.dumps({"sets": args.sets, "reps": args.reps, "threads": args.threads, "servers": summary}))
        return
    print(f"{args.sets} pipelined sets, one connection, -t {args.threads}, median of {args.reps}")
    print(f"{'server':<16}{'wall s':>10}{'server CPU s':>14}{'time / memcached':>18}   runs")
    for name, s in summary.items():
        ratio = f"{s['vs_memcached']:.2f}x" if s["vs_memcached"] else "-"
        runs = " ".join(f"{x:.2f}" for x in s["runs_s"])
        print(f"{name:<16}{s['median_s']:>10.3f}{s['median_cpu_s']:>14.2f}{ratio:>18}   {runs}")


if __name__ == "__main__":
    main()
