#!/usr/bin/env python3
"""bench/startup: time from exec to the first 200 of /healthz, and idle RSS after start.

Compared in the same run with a peer that does much less: Python's built-in HTTP server
(`python3 -m http.server`), measured the same way (exec → first 200). Each case runs several
times; the median is printed, with the ratio to the peer. Goals (issue 3): under 1 s and
under 64 MB. This is a benchmark, not a test: it prints figures, it does not fail on them.

Usage: bench/startup/run.py [--binary target/release/bouquet] [--runs 5]
"""

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def first_200(port, path, deadline):
    """Polls until GET path answers 200; returns the instant it did."""
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"no 200 on {path} within the deadline")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(cmd, port, path, cwd, settle):
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = first_200(port, path, start + 30)
        time.sleep(settle)
        rss = rss_mb(proc.pid)
        return ready - start, rss
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(root, "target/release/bouquet"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds idle before reading RSS")
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        print(f"Building {args.binary} (cargo build --release)…", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "--bin", "bouquet"], cwd=root, check=True)

    results = {}

    def run_case(name, make_cmd, path, fresh_each_time):
        times, rsss = [], []
        workdir = tempfile.mkdtemp(prefix="bq-bench-")
        try:
            for i in range(args.runs):
                data = os.path.join(workdir, f"data-{i}" if fresh_each_time else "data")
                port = free_port()
                t, rss = measure(make_cmd(port, data), port, path, workdir, args.settle)
                times.append(t)
                rsss.append(rss)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        results[name] = (statistics.median(times), statistics.median(rsss), min(times), max(times))

    run_case(
        "python3 -m http.server (peer)",
        lambda port, data: [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        "/",
        False,
    )
    bouquet = lambda port, data: [args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data]
    bouquet_demo = lambda port, data: bouquet(port, data) + ["--demo"]
    # Warm start: the data directory already exists (migrations applied, demo seeded).
    warm_dir = tempfile.mkdtemp(prefix="bq-bench-warm-")
    try:
        port = free_port()
        measure(bouquet_demo(port, os.path.join(warm_dir, "data")), port, "/healthz", warm_dir, 0.1)
        run_case(
            "bouquet serve --demo, warm start",
            lambda port, _data: bouquet_demo(port, os.path.join(warm_dir, "data")),
            "/healthz",
            False,
        )
    finally:
        shutil.rmtree(warm_dir, ignore_errors=True)
    run_case("bouquet serve --demo, first start (migrations + demo)", bouquet_demo, "/healthz", True)
    run_case("bouquet serve, empty platform (migrations)", bouquet, "/healthz", True)

    peer_t, peer_rss, _, _ = results["python3 -m http.server (peer)"]
    print(f"\nbench/startup — {args.runs} runs each, median (min–max); binary {args.binary}")
    print(f"{'case':58} {'exec→200':>10} {'ratio':>7} {'idle RSS':>10} {'ratio':>7}")
    for name, (t, rss, lo, hi) in results.items():
        print(f"{name:58} {t*1000:8.0f} ms {t/peer_t:6.2f}× {rss:7.1f} MB {rss/peer_rss:6.2f}×   ({lo*1000:.0f}–{hi*1000:.0f} ms)")
    warm_t, warm_rss, _, _ = results["bouquet serve --demo, warm start"]
    print(f"\nGoals: start under 1 s → {'met' if warm_t < 1 else 'NOT met'} ({warm_t*1000:.0f} ms warm); "
          f"idle RSS under 64 MB → {'met' if warm_rss < 64 else 'NOT met'} ({warm_rss:.1f} MB).")


if __name__ == "__main__":
    main()
