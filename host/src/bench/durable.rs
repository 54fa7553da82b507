//! Durability figures: durable writes per second with concurrent writers sharing syncs
//! (group commit, as `maas serve` runs), against one writer syncing each change, and
//! start-up time against the length of the history, with and without a snapshot.

use super::{register, store};
use crate::bindings::{agents, types};
use crate::journal::postgres::ScratchDatabase;
use crate::journal::{JournalBackend, MemoryJournal, PostgresJournal, SqliteJournal};
use crate::service::CoreService;
use crate::{CoreImage, Runtime, RuntimeOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn unavailable(e: impl std::fmt::Display) -> types::Error {
    types::Error::Unavailable(e.to_string())
}

/// Where a run's journal lives: a fresh SQLite file in the bench directory, or, with a
/// PostgreSQL store (`--store`), a scratch database beside the store's; removed when
/// dropped.
enum BenchStore {
    File(BenchFile),
    Database(Box<ScratchDatabase>),
}

impl BenchStore {
    fn new(dir: &Path, name: &str) -> Result<Self, types::Error> {
        Ok(match crate::datadir::store_url() {
            None => BenchStore::File(BenchFile::new(dir, &format!("{name}.db"))),
            Some(url) => {
                let name = format!("maas_{}_{}", name.replace('-', "_"), std::process::id());
                BenchStore::Database(Box::new(
                    ScratchDatabase::create(&url, &name).map_err(unavailable)?,
                ))
            }
        })
    }

    fn open(&self) -> Result<Box<dyn JournalBackend>, types::Error> {
        Ok(match self {
            BenchStore::File(f) => Box::new(SqliteJournal::open(&f.0).map_err(unavailable)?),
            BenchStore::Database(db) => {
                Box::new(PostgresJournal::connect(&db.url).map_err(unavailable)?)
            }
        })
    }
}

/// The store the durable figures are measured on, for reports.
pub fn store_name() -> &'static str {
    if crate::datadir::store_url().is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// A fresh bench file in `dir`, removed when dropped.
struct BenchFile(PathBuf);

impl BenchFile {
    fn new(dir: &Path, name: &str) -> Self {
        let path = dir.join(name);
        let file = BenchFile(path);
        file.remove();
        file
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for BenchFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Durable writes with `writers` concurrent callers for about `duration`.
#[derive(Debug, Clone, Copy)]
pub struct WriteFigure {
    /// Concurrent writers.
    pub writers: usize,
    /// Acknowledged durable writes per second.
    pub per_second: f64,
    /// Writes per sync (how many changes shared one fsync).
    pub per_sync: f64,
}

/// One writer, each change synced on its own (no group commit): the baseline.
pub fn one_by_one(dir: &Path, duration: Duration) -> Result<WriteFigure, types::Error> {
    let bench = BenchStore::new(dir, "bench-one-by-one")?;
    let options = RuntimeOptions {
        snapshot_every: 0,
        ..RuntimeOptions::default()
    };
    let mut rt = Runtime::new(CoreImage::shared()?, bench.open()?, options)?;
    register(&mut rt, "w-0")?;
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < duration {
        store(&mut rt, "w-0", done)?;
        done += 1;
    }
    let per_second = done as f64 / start.elapsed().as_secs_f64().max(f64::EPSILON);
    Ok(WriteFigure {
        writers: 1,
        per_second,
        per_sync: 1.0,
    })
}

/// `writers` threads storing memories through one core service with group commit.
pub fn grouped(
    dir: &Path,
    writers: usize,
    duration: Duration,
) -> Result<WriteFigure, types::Error> {
    // Each run a file of its own: the core of the run before may still be closing its
    // connection, and SQLite removes the write-ahead log by its name as the last one
    // closes, which would take this run's log (its syncs then fail, rightly).
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let bench = BenchStore::new(dir, &format!("bench-grouped-{run}"))?;
    let journal = bench.open()?;
    let options = RuntimeOptions {
        snapshot_every: 0,
        group_commit: true,
        ..RuntimeOptions::default()
    };
    let image = CoreImage::shared()?;
    let core = CoreService::spawn(move || Runtime::new(image, journal, options))?;
    for w in 0..writers {
        core.call_blocking(move |rt| register(rt, &format!("w-{w}")))?;
    }
    let syncs_before = core.call_blocking(|rt| Ok(rt.syncs()))?;
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let core = core.clone();
            std::thread::spawn(move || {
                let agent = format!("w-{w}");
                let mut done = 0usize;
                while start.elapsed() < duration {
                    let agent = agent.clone();
                    let i = done;
                    if core.call_blocking(move |rt| store(rt, &agent, i)).is_err() {
                        break;
                    }
                    done += 1;
                }
                done
            })
        })
        .collect();
    let done: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    let elapsed = start.elapsed().as_secs_f64().max(f64::EPSILON);
    let syncs = core.call_blocking(|rt| Ok(rt.syncs()))? - syncs_before;
    Ok(WriteFigure {
        writers,
        per_second: done as f64 / elapsed,
        per_sync: done as f64 / (syncs.max(1) as f64),
    })
}

/// One fsync on this file system: 100 bytes written and `sync_data`'d, `count` times.
pub fn fsync_floor(dir: &Path, count: usize) -> std::io::Result<super::stats::Samples> {
    use std::io::Write;
    let file = BenchFile::new(dir, "bench-fsync.bin");
    let mut f = std::fs::File::create(&file.0)?;
    let mut samples = super::stats::Samples::new();
    for _ in 0..count {
        let start = Instant::now();
        f.write_all(&[7u8; 100])?;
        f.sync_data()?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

/// Start-up time over a history of `entries` entries.
#[derive(Debug, Clone, Copy)]
pub struct StartFigure {
    /// Entries in the journal.
    pub entries: u64,
    /// Replaying every entry.
    pub replay: Duration,
    /// From a snapshot at the head.
    pub from_snapshot: Duration,
    /// Snapshot size in bytes.
    pub snapshot_bytes: usize,
}

/// A history of about `entries` entries: one agent, a memory every 50 entries, audited
/// reads in between (what a busy deployment's journal mostly holds).
fn history(entries: u64) -> Result<Vec<Vec<u8>>, types::Error> {
    let journal = MemoryJournal::new();
    let options = RuntimeOptions {
        snapshot_every: 0,
        ..RuntimeOptions::default()
    };
    let mut rt = Runtime::new(CoreImage::shared()?, Box::new(journal.clone()), options)?;
    register(&mut rt, "h")?;
    let me = types::Caller::Agent("h".into());
    let mut i = 1usize;
    while (journal.entries_len() as u64) < entries {
        if i.is_multiple_of(50) {
            store(&mut rt, "h", i)?;
        } else {
            rt.call(|c, s| c.maas_core_agents().call_get(s, &me, "h"))
                .map(|_: agents::Agent| ())?;
        }
        i += 1;
    }
    Ok(journal.entries())
}

/// Start-up with and without a snapshot over each history length.
pub fn start_up(dir: &Path, lengths: &[u64]) -> Result<Vec<StartFigure>, types::Error> {
    let mut out = Vec::new();
    for &entries in lengths {
        let bench = BenchStore::new(dir, "bench-start")?;
        let history = history(entries)?;
        bench.open()?.append_all(0, &history).map_err(unavailable)?;
        let options = RuntimeOptions {
            snapshot_every: 0,
            ..RuntimeOptions::default()
        };
        let image = CoreImage::shared()?;
        let t = Instant::now();
        let mut rt = Runtime::new(image.clone(), bench.open()?, options.clone())?;
        let replay = t.elapsed();
        rt.snapshot()?;
        let snapshot_bytes = usize::try_from(rt.snapshot_bytes()).unwrap_or(usize::MAX);
        drop(rt);
        let t = Instant::now();
        let rt = Runtime::new(image, bench.open()?, options)?;
        let from_snapshot = t.elapsed();
        drop(rt);
        out.push(StartFigure {
            entries: history.len() as u64,
            replay,
            from_snapshot,
            snapshot_bytes,
        });
    }
    Ok(out)
}

/// Formats the durability figures.
pub fn report(baseline: &WriteFigure, grouped: &[WriteFigure], starts: &[StartFigure]) -> String {
    let mut out = format!(
        "durable writes (memories.store on {}; acknowledged only once committed to disk)\n",
        store_name()
    );
    out.push_str(&format!(
        "{:<34} {:>12} {:>14} {:>12}\n",
        "writers", "writes/s", "writes/fsync", "x baseline"
    ));
    out.push_str(&format!(
        "{:<34} {:>12.0} {:>14.1} {:>12}\n",
        "1, fsync each (baseline)", baseline.per_second, baseline.per_sync, "1.0"
    ));
    for g in grouped {
        out.push_str(&format!(
            "{:<34} {:>12.0} {:>14.1} {:>12.1}\n",
            format!("{}, group commit", g.writers),
            g.per_second,
            g.per_sync,
            g.per_second / baseline.per_second.max(f64::EPSILON)
        ));
    }
    if !starts.is_empty() {
        out.push_str(&format!(
            "\nstart-up against history length ({} journal)\n",
            store_name()
        ));
        out.push_str(&format!(
            "{:<12} {:>14} {:>16} {:>16}\n",
            "entries", "replay all", "from snapshot", "snapshot size"
        ));
        for s in starts {
            out.push_str(&format!(
                "{:<12} {:>14} {:>16} {:>13} KiB\n",
                s.entries,
                format!("{:.1?}", s.replay),
                format!("{:.1?}", s.from_snapshot),
                s.snapshot_bytes / 1024
            ));
        }
    }
    out
}
