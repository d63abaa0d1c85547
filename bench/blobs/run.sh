#!/usr/bin/env bash
# Streams SIZE MiB (default 2048 = 2 GiB) through the blob store and prints throughput and
# peak memory next to std's hash+write+fsync of the same bytes. Needs SIZE free on disk
# (twice: the blob, then the baseline file); BENCH_DIR chooses where.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run --quiet --release -p bouquet-store --example blob_stream -- "${1:-2048}"
