//! bench/blobs: streams SIZE bytes (default 2 GiB) through `Blobs::put_stream` to local files
//! (fsync on), then reads them back verified; prints throughput and the process's peak RSS,
//! next to the machine's own limit measured in the same run: SHA-256 + write + fsync of the
//! same bytes with std alone.
//!
//! Run: `bench/blobs/run.sh [SIZE_MIB]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::Instant;

use bouquet_store::blobs::{Blobs, owner_key};
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};

const CHUNK: usize = 1024 * 1024;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn chunk(i: usize) -> Bytes {
    // Cheap, non-constant content (so that nothing can shortcut on zeros).
    let mut v = vec![0u8; CHUNK];
    for (j, b) in v.iter_mut().enumerate() {
        *b = (i.wrapping_mul(31) ^ j.wrapping_mul(7)) as u8;
    }
    Bytes::from(v)
}

#[tokio::main]
async fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2048);
    let size = (mib * CHUNK) as u64;
    let dir = tempfile_dir();
    let blobs = Blobs::local(&dir.join("blobs")).unwrap();
    let owner = owner_key(None);
    let rss_before = peak_rss_mb();

    let start = Instant::now();
    let stream = futures::stream::iter((0..mib).map(|i| Ok::<_, std::io::Error>(chunk(i))));
    let stored = blobs.put_stream(&owner, stream, size).await.unwrap();
    let put = start.elapsed();
    let start = Instant::now();
    let mut read = 0u64;
    let mut s = blobs.open(&owner, &stored.sha256).await.unwrap();
    while let Some(c) = s.next().await {
        read += c.unwrap().len() as u64;
    }
    let get = start.elapsed();
    assert_eq!(read, size);
    let rss_bouquet = peak_rss_mb();

    // The machine's limit: hash and write the same bytes with std, then fsync.
    let start = Instant::now();
    let mut h = Sha256::new();
    let path = dir.join("baseline.bin");
    let mut f = std::fs::File::create(&path).unwrap();
    for i in 0..mib {
        let c = chunk(i);
        h.update(&c);
        f.write_all(&c).unwrap();
    }
    f.sync_all().unwrap();
    let base = start.elapsed();
    assert_eq!(hex::encode(h.finalize()), stored.sha256);
    std::fs::remove_dir_all(&dir).ok();

    let mbps = |d: std::time::Duration| mib as f64 / d.as_secs_f64();
    println!("bench/blobs — {mib} MiB through the local blob store (fsync on)");
    println!(
        "  write  (stream, hash, stage, rename, fsync): {:8.0} MiB/s",
        mbps(put)
    );
    println!(
        "  read   (stream, verify hash):                {:8.0} MiB/s",
        mbps(get)
    );
    println!(
        "  baseline std hash + write + fsync:           {:8.0} MiB/s",
        mbps(base)
    );
    println!(
        "  write ratio to baseline:                     {:8.2}×",
        base.as_secs_f64() / put.as_secs_f64()
    );
    println!(
        "  peak RSS: {:.0} MB before, {:.0} MB after Bouquet's write and read of {} MiB",
        rss_before, rss_bouquet, mib
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let base = std::env::var_os("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("bq-blobs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
