//! `maas bench --quick` / `--full`: every figure of `BENCHMARKS.md`, measured in one
//! process (plus `maas` children), each layer against the native baseline of the same run.

use super::durable;
use super::report::{Report, Row};
use super::scale::{self, SizeFindings};
use super::stats::{Machine, Samples, each, ms};
use super::workloads::{self, Backend, Component, Native, Outcome};
use crate::journal::MemoryJournal;
use crate::service::CoreService;
use crate::{CoreImage, Runtime, RuntimeOptions, datadir};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a run measures.
#[derive(Debug, Clone)]
pub struct Options {
    /// `quick` or `full` (goes into the report).
    pub mode: String,
    /// History sizes (memories).
    pub sizes: Vec<u64>,
    /// Knowledge documents.
    pub documents: usize,
    /// Calls per search measurement.
    pub reps: usize,
    /// Concurrent durable writer counts.
    pub writers: Vec<usize>,
    /// Seconds per durable writer count.
    pub seconds: f64,
    /// Generator seed.
    pub seed: u64,
    /// Scratch directory (removed at the end).
    pub work: PathBuf,
    /// The `maas` binary for child processes.
    pub maas: PathBuf,
}

const EXIT: &str = "The original design's six exit criteria";
const FLOORS: &str = "Floors: the cheapest call of each layer";
const DURABLE: &str = "Durable writes (SQLite; acknowledged once fsync'd)";

/// A layer's six workloads and its floor.
pub(super) struct Layer {
    pub(super) name: String,
    pub(super) floor: Samples,
    pub(super) outcomes: Vec<Outcome>,
    /// The MCP no-op tool's median, for MCP layers.
    mcp_floor: Option<Duration>,
}

fn run_layer(
    name: &str,
    b: &mut dyn Backend,
    tag: &str,
    concurrent: impl FnOnce(&mut dyn Backend) -> Outcome,
) -> Layer {
    eprintln!("maas bench: six workloads on {name}");
    let floor = each(500, |_| {
        let _ = b.floor();
    });
    let mut outcomes = workloads::sequential(b, tag);
    outcomes.push(concurrent(b));
    Layer {
        name: name.into(),
        floor,
        outcomes,
        mcp_floor: None,
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn sqlite_dir(work: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = work.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(err)?;
    Ok(dir)
}

fn service_on(dir: &Path) -> Result<CoreService, String> {
    let dir = dir.to_path_buf();
    CoreService::spawn(move || {
        datadir::open_with(
            &dir,
            RuntimeOptions {
                group_commit: true,
                ..RuntimeOptions::default()
            },
        )
        .map_err(|e| crate::types::Error::Unavailable(e.message()))
    })
    .map_err(|e| e.message())
}

/// The six workloads natively, on the component (memory journal, SQLite) and over MCP.
fn layers(o: &Options) -> Result<Vec<Layer>, String> {
    let mut out = Vec::new();
    let mut native = Native(Arc::new(Mutex::new(workloads::native_core()?)));
    let shared = native.clone();
    out.push(run_layer("native", &mut native, "", |b| {
        workloads::concurrent_setup(b, "")
            .map(|()| workloads::concurrent("", vec![shared.clone(); 15]))
            .unwrap_or_else(failed)
    }));

    let image = CoreImage::shared().map_err(|e| e.message())?;
    let rt = Runtime::new(
        image,
        Box::new(MemoryJournal::new()),
        RuntimeOptions::default(),
    )
    .map_err(|e| e.message())?;
    let mut direct = Component::Direct(Box::new(rt));
    out.push(run_layer(
        "component (memory journal)",
        &mut direct,
        "",
        |b| {
            let svc = CoreService::spawn(|| {
                Runtime::in_memory(RuntimeOptions {
                    group_commit: true,
                    ..RuntimeOptions::default()
                })
            });
            match svc {
                Ok(svc) => concurrent_on_service(b, svc),
                Err(e) => failed(e.message()),
            }
        },
    ));
    drop(direct);

    let dir = sqlite_dir(&o.work, "workloads-sqlite")?;
    let rt = datadir::open_with(&dir, RuntimeOptions::default()).map_err(|e| e.message())?;
    let mut durable_rt = Component::Direct(Box::new(rt));
    let dir6 = sqlite_dir(&o.work, "workloads-sqlite-concurrent")?;
    out.push(run_layer(
        "component (SQLite)",
        &mut durable_rt,
        "",
        |b| match service_on(&dir6) {
            Ok(svc) => concurrent_on_service(b, svc),
            Err(e) => failed(e),
        },
    ));
    drop(durable_rt);
    mcp_layers(o, &mut out)?;
    Ok(out)
}

/// The concurrent workload: set up with `_b`'s kind of journal on `svc` (group commit,
/// as `maas serve` runs), then 15 callers at once.
fn concurrent_on_service(_b: &mut dyn Backend, svc: CoreService) -> Outcome {
    let mut setup = Component::Service(svc.clone());
    match workloads::concurrent_setup(&mut setup, "") {
        Ok(()) => workloads::concurrent(
            "",
            (0..15).map(|_| Component::Service(svc.clone())).collect(),
        ),
        Err(e) => failed(e),
    }
}

fn failed(e: String) -> Outcome {
    Outcome {
        workload: workloads::NAMES[5],
        per_op: Samples::new(),
        total: Duration::ZERO,
        ok: false,
        error: Some(e),
    }
}

#[cfg(feature = "bench-mcp")]
fn mcp_layers(o: &Options, out: &mut Vec<Layer>) -> Result<(), String> {
    use super::mcp::{Mcp, runtime};
    let rt = runtime()?;
    let dir = sqlite_dir(&o.work, "workloads-mcp-stdio")?;
    let mut stdio = Mcp::stdio(rt.clone(), &o.maas, &dir)?;
    let mut layer = run_layer("MCP stdio", &mut stdio, "", |_| {
        failed("not run over stdio (one client per process)".into())
    });
    layer.mcp_floor = Some(layer.floor.median());
    layer.outcomes.pop();
    out.push(layer);
    drop(stdio);

    let dir = sqlite_dir(&o.work, "workloads-mcp-http")?;
    let server = super::process::serve(&o.maas, &dir)?;
    let mut http = Mcp::http(rt.clone(), &server.url)?;
    let url = server.url.clone();
    let mut layer =
        run_layer(
            "MCP HTTP, 1 client",
            &mut http,
            "",
            |b| match workloads::concurrent_setup(b, "") {
                Ok(()) => {
                    let clients: Result<Vec<Mcp>, String> =
                        (0..15).map(|_| Mcp::http(rt.clone(), &url)).collect();
                    match clients {
                        Ok(clients) => workloads::concurrent("", clients),
                        Err(e) => failed(e),
                    }
                }
                Err(e) => failed(e),
            },
        );
    layer.mcp_floor = Some(layer.floor.median());
    out.push(layer);
    // The protocol floor with 16 clients at once.
    let clients: Vec<Mcp> = (0..16)
        .map(|_| Mcp::http(rt.clone(), &server.url))
        .collect::<Result<_, _>>()?;
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                each(100, |_| {
                    let _ = c.floor();
                })
            })
        })
        .collect();
    let mut floor16 = Samples::new();
    for t in threads {
        if let Ok(s) = t.join() {
            floor16.extend(s);
        }
    }
    out.push(Layer {
        name: "MCP HTTP, 16 clients".into(),
        mcp_floor: Some(floor16.median()),
        floor: floor16,
        outcomes: Vec::new(),
    });
    drop(server);
    Ok(())
}

#[cfg(not(feature = "bench-mcp"))]
fn mcp_layers(_o: &Options, _out: &mut Vec<Layer>) -> Result<(), String> {
    Ok(())
}

fn exit_rows(layers: &[Layer], rows: &mut Vec<Row>) {
    let native = layers.iter().find(|l| l.name == "native");
    let empty = layers
        .iter()
        .find(|l| l.name == "component (memory journal)")
        .map(|l| l.floor.median());
    for l in layers {
        rows.push(
            Row::latency(FLOORS, "floor", &l.name, &l.floor)
                .against("empty component call", empty)
                .note(match (l.name.as_str(), l.mcp_floor) {
                    ("native", _) => "Core::limits()".to_string(),
                    (_, Some(_)) => {
                        format!("the `{}` tool (answers without calling the core)", "whoami")
                    }
                    _ => "admin.current-limits (no journal, no audit)".to_string(),
                }),
        );
    }
    for name in workloads::NAMES {
        let base = native
            .and_then(|n| n.outcomes.iter().find(|o| o.workload == name))
            .map(|o| o.per_op.median());
        for l in layers {
            let Some(o) = l.outcomes.iter().find(|o| o.workload == name) else {
                continue;
            };
            let layer = if name == workloads::NAMES[5] && l.name.starts_with("MCP HTTP") {
                "MCP HTTP, 15 clients"
            } else {
                l.name.as_str()
            };
            let mut row = Row::latency(EXIT, name, layer, &o.per_op)
                .against("native", base)
                .over_floor(empty)
                .note(format!("total {:.1} ms", ms(o.total)));
            if let Some(f) = l.mcp_floor.filter(|f| !f.is_zero()) {
                row = row.note(format!(
                    "{:.1}x the no-op tool",
                    ms(o.per_op.median()) / ms(f)
                ));
            }
            row = match (&o.error, o.ok) {
                (Some(e), _) => row.note(format!("FAILED: {e}")),
                (None, false) => row.note("not every operation succeeded"),
                (None, true) if name == workloads::NAMES[5] => row.note("all 300 succeeded"),
                _ => row,
            };
            rows.push(row);
        }
    }
}

/// Writes per second with 64 writers, and one writer's time per write beside one fsync.
type DurableFindings = (Option<f64>, Option<(Duration, Duration)>);

/// Durable writes and the fsync they are measured against.
fn durable_rows(o: &Options, rows: &mut Vec<Row>) -> Result<DurableFindings, String> {
    eprintln!("maas bench: durable writes");
    let dir = sqlite_dir(&o.work, "durable")?;
    let fsync = durable::fsync_floor(&dir, 50).map_err(err)?;
    rows.push(Row::latency(
        DURABLE,
        "one fsync (write 100 bytes, fdatasync)",
        "filesystem",
        &fsync,
    ));
    let duration = Duration::from_secs_f64(o.seconds.clamp(0.1, 600.0));
    let layer = format!("component ({})", durable::store_name());
    let one = durable::one_by_one(&dir, duration).map_err(|e| e.message())?;
    let per_write = Duration::from_secs_f64(1.0 / one.per_second.max(f64::EPSILON));
    rows.push(
        Row::value(
            DURABLE,
            "1 writer, fsync each",
            &layer,
            one.per_second,
            "writes/s",
        )
        .note(format!(
            "{:.2} ms per write = {:.2}x one fsync",
            ms(per_write),
            ms(per_write) / ms(fsync.median()).max(1e-9)
        )),
    );
    let mut at64 = None;
    for &w in &o.writers {
        let g = durable::grouped(&dir, w.clamp(1, 1024), duration).map_err(|e| e.message())?;
        if w == 64 {
            at64 = Some(g.per_second);
        }
        rows.push(
            Row::value(
                DURABLE,
                &format!("{w} writers, group commit"),
                &layer,
                g.per_second,
                "writes/s",
            )
            .note(format!(
                "{:.1} writes per fsync; {:.1}x one writer",
                g.per_sync,
                g.per_second / one.per_second.max(f64::EPSILON)
            )),
        );
    }
    Ok((at64, Some((per_write, fsync.median()))))
}

/// Runs everything and returns the report.
pub fn run(o: &Options) -> Result<Report, String> {
    std::fs::create_dir_all(&o.work).map_err(err)?;
    let machine = Machine::here();
    let machine_profile = machine.profile.clone();
    let mut rows = Vec::new();
    let layers = layers(o)?;
    exit_rows(&layers, &mut rows);
    let mut found: Vec<SizeFindings> = Vec::new();
    for &size in &o.sizes {
        found.push(scale::at_size(
            size,
            o.seed,
            o.reps,
            &o.work,
            &o.maas,
            cfg!(feature = "bench-mcp"),
            &mut rows,
        )?);
    }
    scale::knowledge_search(o.documents, o.seed, o.reps, &mut rows)?;
    let (at64, single) = durable_rows(o, &mut rows)?;
    let _ = std::fs::remove_dir_all(&o.work);
    let targets = super::targets::targets(&layers, &found, at64, single);
    Ok(Report {
        machine,
        mode: o.mode.clone(),
        sizes: o.sizes.clone(),
        rows,
        targets,
        notes: notes(&machine_profile),
    })
}

fn notes(profile: &str) -> Vec<String> {
    let mut notes = vec![
        "Every latency is the median (and p95) of single calls timed one by one; `x baseline` divides by the native figure of the same run, `x floor` by the empty component call (admin.current-limits) of the same run. Nothing asserts a timing.".into(),
        "Layers: native is maas_core::Core over an in-memory journal in this process; component is the wasm core under wasmtime, called directly (memory journal) or over the data directory's SQLite journal, each change fsync'd before the call returns; MCP runs a `maas` child process (`maas mcp` on stdio, `maas serve` on HTTP) on a SQLite data directory and calls it with rmcp's client.".into(),
        "The concurrent workload runs through the core thread with group commit (as `maas serve` does); over MCP it uses 15 HTTP clients. It is not run over stdio, which serves one client per process.".into(),
        "Histories are generated with `maas bench generate` (seeded): 100 agents of 10 owners, 10 pools, one agent in every pool; 12-40 Zipf words from 50,000, 30% with an identifier or path, half shared at mixed scopes. Searches run as the agent that is in every pool, top 10.".into(),
        "MCP rows need a build with `--features bench-mcp` (the rmcp client stays out of the default binary).".into(),
        "A thousand clients: the operator registers 1,000 new agents (50 owners, in no pool, so they search the global memories), each opens a session of its own with its own token (the server caps sessions per principal), all at once, then every client makes 3 calls of each tool, one after another, all clients at once; the clients run in the benchmark's process on the same cores as the server. Latency under that load is mostly the queue: read throughput beside it.".into(),
    ];
    if profile == "debug" {
        notes.push("This is a debug build: the native baseline runs unoptimised Rust while the component is always optimised wasm, so native can look slower than the component. Use a release build (`--full`) for real ratios.".into());
    }
    notes
}
