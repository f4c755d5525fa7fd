#!/usr/bin/env python3
"""A client that pipelines small sets and never reads a reply, against
each server for --seconds: how far the server's RSS grows, and how many
bytes it took in.

Runs each spoold given (--spoold, and --folly-spoold for the folly backend)
in both exec modes, and memcached, started here with the same flags
(-m 64 -c 1024 -t 2) on free loopback ports, in the same run; prints each
server's RSS growth (peak minus the RSS before the flood) and its ratio to
memcached's.

    bench/unread_flood.py --spoold build/server/spoold [--folly-spoold build-folly/server/spoold] [--seconds 30]
"""
import argparse
import json
import os
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_sets import free_port, start  # noqa: E402

SET = b"set small 0 0 10\r\n0123456789\r\n"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def flood(port, pid, seconds):
    """Writes sets without reading for `seconds`; returns (bytes taken, peak RSS KiB)."""
    block = SET * 4096
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    sent = 0
    peak = rss_kib(pid)
    end = time.monotonic() + seconds
    next_sample = 0.0
    while time.monotonic() < end:
        try:
            sent += sock.send(block[sent % len(block):])
        except BlockingIOError:
            time.sleep(0.01)  # pacing the attack, not waiting for a result
        now = time.monotonic()
        if now >= next_sample:
            peak = max(peak, rss_kib(pid))
            next_sample = now + 0.25
    peak = max(peak, rss_kib(pid))
    sock.close()
    return sent, peak


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spoold", required=True)
    ap.add_argument("--folly-spoold", default="")
    ap.add_argument("--memcached", default=shutil.which("memcached") or "")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    common = ["-l", "127.0.0.1", "-m", "64", "-c", "1024", "-t", "2"]
    if os.geteuid() == 0:
        common += ["-u", "nobody"]
    servers = {}
    for backend, binary in (("libevent", args.spoold), ("folly", args.folly_spoold)):
        if binary:
            for mode in ("inline", "workers"):
                servers[f"spoold-{backend}-{mode}"] = [binary, f"--exec={mode}"]
    if args.memcached:
        servers["memcached"] = [args.memcached, "-U", "0"]

    results = {}
    for name, argv in servers.items():
        port = free_port()
        proc = start(argv + common + ["-p", str(port)], port)
        try:
            before = rss_kib(proc.pid)
            sent, peak = flood(port, proc.pid, args.seconds)
            results[name] = {"rss_before_kib": before, "rss_peak_kib": peak, "growth_kib": peak - before,
                             "bytes_taken": sent}
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    base = results.get("memcached")
    for r in results.values():
        r["growth_vs_memcached"] = r["growth_kib"] / max(base["growth_kib"], 1) if base else None
    if args.json:
        print(json.dumps({"seconds": args.seconds, "servers": results}))
        return
    print(f"never-reading pipeliner of small sets for {args.seconds:g} s, -m 64 -c 1024 -t 2")
    print(f"{'server':<24}{'RSS before':>12}{'RSS peak':>12}{'growth':>10}{'/ memcached':>13}{'MiB taken':>11}")
    for name, r in results.items():
        ratio = f"{r['growth_vs_memcached']:.2f}x" if r["growth_vs_memcached"] is not None else "-"
        print(f"{name:<24}{r['rss_before_kib']:>9} KiB{r['rss_peak_kib']:>9} KiB{r['growth_kib']:>6} KiB"
              f"{ratio:>13}{r['bytes_taken'] / 2**20:>11.1f}")


if __name__ == "__main__":
    main()
