#!/usr/bin/env python3
"""RSS per idle TLS connection, spoold against memcached in the same run.

Each server starts with -Z on a fresh loopback port; one client opens N TLS
connections one after another, sends each one get and reads its answer, then
leaves them open and silent. The figure is the server's VmRSS growth over
them divided by N (after 10 warm-up connections). mcload's --idle-conns does
the same for plain TCP inside bench/run.sh; it has no TLS.

usage: bench/idle_tls.py --spoold build/server/spoold [--conns 3000] [--reps 2]
"""
import argparse
import os
import resource
import socket
import ssl
import subprocess
import tempfile
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_one(ctx, port):
    conn = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    conn.sendall(b"get k\r\n")
    reply = b""
    while not reply.endswith(b"END\r\n"):
        chunk = conn.recv(100)
        if not chunk:
            raise RuntimeError("server closed a connection")
        reply += chunk
    return conn


def measure(command, port, conns, ctx):
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        warm = [open_one(ctx, port) for _ in range(10)]
        time.sleep(0.3)
        before = rss_kib(server.pid)
        idle = [open_one(ctx, port) for _ in range(conns)]
        time.sleep(0.5)
        after = rss_kib(server.pid)
        for conn in warm + idle:
            conn.close()
        return (after - before) * 1024 / conns
    finally:
        server.terminate()
        server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spoold", required=True)
    parser.add_argument("--conns", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a throwaway self-signed certificate
    with tempfile.TemporaryDirectory() as work:
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"],
                       check=True, capture_output=True)
        for rep in range(args.reps):
            for name, binary in (("memcached", "memcached"), ("spoold", args.spoold)):
                port = free_port()
                command = [binary, "-p", str(port), "-l", "127.0.0.1", "-U", "0", "-t", "1",
                           "-c", str(args.conns + 100), "-Z", "-o", f"ssl_chain_cert={cert},ssl_key={key}"]
                if os.geteuid() == 0:
                    command += ["-u", "root"]
                print(f"rep {rep + 1} {name:9} {measure(command, port, args.conns, ctx):8.0f} B per idle TLS connection",
                      flush=True)


if __name__ == "__main__":
    main()
