//! Times a snapshot saved by the core serving calls, at the size of a data directory:
//! what `maas serve --snapshots in-core` holds every call for when one falls due, what a
//! stop spends on its snapshot, and what a save beside costs its second core. Each data
//! directory gets a core started as `maas` starts one; then, round after round, each core
//! stores one note and saves a snapshot (the export through the component and the chunks
//! written to `journal.db`), and apart from it the export alone (chunks dropped). Prints
//! the medians, and the ratio of each directory's to the first's, so two builds of the
//! component are measured in one process on the same machine state.
//!
//! `cargo run --release -p maas-host --example snapshot_save -- ROUNDS DIR[=WASM]...`
//!
//! `DIR=WASM` runs that build of the component (say, one built from an older commit)
//! instead of the one built with this example. The directories are changed (a note and a
//! snapshot a round): give copies, one for each core, of a directory made with
//! `maas bench generate` and `maas import` (see `restore_profile`).

use maas_host::bench::store;
use maas_host::{CoreImage, Runtime, RuntimeOptions, types};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHUNK: u32 = 4 << 20;

struct Subject {
    name: String,
    rt: Runtime,
    saves: Vec<Duration>,
    exports: Vec<Duration>,
}

/// The export alone: every chunk asked for and dropped. Returns the bytes.
fn export(rt: &mut Runtime) -> Result<u64, types::Error> {
    rt.call(|c, s| c.maas_core_admin().call_snapshot_begin(s))?;
    let mut bytes = 0u64;
    while let Some(chunk) = rt.call(|c, s| c.maas_core_admin().call_snapshot_next(s, CHUNK))? {
        bytes += chunk.len() as u64;
    }
    Ok(bytes)
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or("usage: snapshot_save ROUNDS DIR[=WASM]...")?;
    let mut subjects = Vec::new();
    for arg in args {
        let (dir, wasm) = match arg.split_once('=') {
            Some((dir, wasm)) => (dir.to_string(), Some(wasm.to_string())),
            None => (arg.clone(), None),
        };
        let image = match &wasm {
            Some(p) => Arc::new(CoreImage::load(Path::new(p))?),
            None => CoreImage::shared()?,
        };
        let mut limits = maas_host::default_limits();
        limits.memories = 100_000_000;
        let options = RuntimeOptions {
            limits,
            snapshot_every: 0,
            ..RuntimeOptions::default()
        };
        let t = Instant::now();
        let journal = maas_host::datadir::open_journal(Path::new(&dir)).map_err(|e| e.message())?;
        let rt = Runtime::new(image, journal, options).map_err(|e| format!("{e:?}"))?;
        println!("{arg}: started in {:.2} s", t.elapsed().as_secs_f64());
        subjects.push(Subject {
            name: arg,
            rt,
            saves: Vec::new(),
            exports: Vec::new(),
        });
    }
    let mut bytes = 0;
    for round in 0..rounds {
        for s in &mut subjects {
            store(&mut s.rt, "agent-00", round)?;
            let t = Instant::now();
            s.rt.snapshot()?;
            s.saves.push(t.elapsed());
            let t = Instant::now();
            bytes = export(&mut s.rt)?;
            s.exports.push(t.elapsed());
        }
    }
    let first = subjects
        .first()
        .map(|s| (median(&s.saves), median(&s.exports)));
    for s in &subjects {
        let (save, export) = (median(&s.saves), median(&s.exports));
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        let (save_ratio, export_ratio) = first
            .map(|(fs, fe)| (ratio(save, fs), ratio(export, fe)))
            .unwrap_or((1.0, 1.0));
        println!(
            "{}: median of {rounds}, snapshot saved {:.3} s ({save_ratio:.2}x the first), \
             export alone {:.3} s ({export_ratio:.2}x); {} MiB",
            s.name,
            save.as_secs_f64(),
            export.as_secs_f64(),
            bytes >> 20
        );
    }
    Ok(())
}
