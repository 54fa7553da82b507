//! Figures at real size: a generated history of N memories is imported by a `maas`
//! child process, then searched natively and through the component, opened with and
//! without a snapshot, served, and measured for resident memory.

use super::corpus::{self, EVERYWHERE, QueryClass};
use super::report::Row;
use super::stats::{Samples, each, ms, proc_kib};
use super::{process, workloads};
use crate::bindings::{knowledge, types};
use crate::journal::{JournalBackend, MemoryJournal};
use crate::{CoreImage, Runtime, RuntimeOptions, datadir};
use maas_core::Caller;
use maas_core::knowledge::Filters;
use maas_core::model::DocumentKind;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the targets need from one history size.
#[derive(Debug, Clone, Default)]
pub struct SizeFindings {
    /// Memories.
    pub size: u64,
    /// Worst p95 over the query classes through the component.
    pub search_p95: Option<Duration>,
    /// Worst p95 over the query classes over MCP HTTP (one client), and the no-op floor's.
    pub mcp_search_p95: Option<(Duration, Duration)>,
    /// `maas serve` from a snapshot until `/healthz` answers.
    pub serve_ready: Option<Duration>,
    /// A one-shot `maas stats`.
    pub one_shot: Option<Duration>,
    /// `maas import` of the whole history.
    pub import: Option<Duration>,
}

const SEARCH: &str = "Memory search by query class";
/// Stores timed with nothing being saved, before a snapshot is saved beside.
const STALL_STORES: usize = 1000;
/// Stores made first, untimed.
const STALL_WARM_UP: usize = 50;
const HISTORY: &str = "A history at size: import, start-up, memory";

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Reads the entries of an export file.
fn entries(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let file = std::fs::File::open(path).map_err(err)?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(err)?;
        if i == 0 {
            continue;
        }
        let start = line.find("\"entry\":").map(|at| at + 8);
        let entry = start
            .and_then(|s| line.get(s..line.len().saturating_sub(1)))
            .ok_or_else(|| format!("line {} is not an export entry", i + 1))?;
        out.push(entry.as_bytes().to_vec());
    }
    Ok(out)
}

fn search_component(rt: &mut Runtime, q: &QueryClass, reps: usize) -> Samples {
    let query = q.query.clone();
    each(reps, |_| {
        let _ = rt.call(|c, s| {
            c.maas_core_memories()
                .call_search(s, &types::Caller::Operator, EVERYWHERE, &query, 10)
        });
    })
}

/// How many times a one-shot command and `maas serve` are started per size: the median
/// is reported, as one start in several can take twice as long as the others.
const STARTS: usize = 3;

/// `min–max ms` of `s`.
fn spread(s: &Samples) -> String {
    format!("{:.0}–{:.0} ms", ms(s.min()), ms(s.max()))
}

/// Starts a core with `open` and reports the start-up (`how`: from the image or a
/// snapshot), the memory it took and its first search (`first`: what that search does).
fn started(
    label: &str,
    how: &str,
    first: &str,
    classes: &[QueryClass],
    rows: &mut Vec<Row>,
    open: impl FnOnce() -> Result<Runtime, String>,
) -> Result<Runtime, String> {
    let rss_before = proc_kib(None, "VmRSS").unwrap_or(0);
    let t = Instant::now();
    let mut rt = open()?;
    let took = t.elapsed();
    let rss_after = proc_kib(None, "VmRSS").unwrap_or(0);
    rows.push(
        Row::value(
            HISTORY,
            &format!("start-up {how} ({label})"),
            "component (SQLite)",
            ms(took),
            "ms",
        )
        .note(format!(
            "this process grew {} MiB",
            rss_after.saturating_sub(rss_before) >> 10
        )),
    );
    if let Some(q) = classes.first() {
        let search = search_component(&mut rt, q, 1);
        rows.push(
            Row::value(
                HISTORY,
                &format!("first search after start-up {how} ({label})"),
                "component (SQLite)",
                ms(search.median()),
                "ms",
            )
            .note(first),
        );
    }
    Ok(rt)
}

/// Measures one history size; `work` is a scratch directory, `maas` the binary.
pub fn at_size(
    size: u64,
    seed: u64,
    reps: usize,
    work: &Path,
    maas: &Path,
    mcp: bool,
    rows: &mut Vec<Row>,
) -> Result<SizeFindings, String> {
    let mut found = SizeFindings {
        size,
        ..SizeFindings::default()
    };
    let label = format!("{size} memories");
    let export = work.join(format!("history-{size}.jsonl"));
    let dir = work.join(format!("data-{size}"));
    let _ = std::fs::remove_dir_all(&dir);
    let classes = corpus::query_classes();

    eprintln!("maas bench: generating {size} memories");
    let t = Instant::now();
    let file = std::fs::File::create(&export).map_err(err)?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut generated = corpus::generate(seed, size, &mut writer)?;
    let generation = t.elapsed();
    let bytes = std::fs::metadata(&export).map(|m| m.len()).unwrap_or(0);
    rows.push(
        Row::value(
            HISTORY,
            &format!("generate ({label}, natively)"),
            "native",
            generation.as_secs_f64(),
            "s",
        )
        .note(format!(
            "{} entries, {} shared, {} with an identifier; export {} MiB",
            generated.summary.entries,
            generated.summary.shared,
            generated.summary.with_identifier,
            bytes >> 20
        )),
    );
    let mut native = Vec::new();
    for q in &classes {
        let s = each(reps, |_| {
            let _ = generated
                .core
                .search_memories(&Caller::Operator, EVERYWHERE, &q.query, 10);
        });
        native.push(s.median());
        rows.push(
            Row::latency(SEARCH, &format!("{label}: {}", q.class), "native", &s)
                .note(format!("`{}`", q.query)),
        );
    }
    drop(generated);

    eprintln!("maas bench: importing {size} memories");
    let import = process::run(maas, &dir, &["import", &export.to_string_lossy()])?;
    found.import = Some(import.wall);
    rows.push(
        Row::value(
            HISTORY,
            &format!("`maas import` ({label})"),
            "maas process",
            import.wall.as_secs_f64(),
            "s",
        )
        .note(format!(
            "peak RSS {} MiB",
            import.peak_kib.unwrap_or(0) >> 10
        )),
    );
    let imaged = crate::runtime::image_path(&dir).is_file();
    let mut walls = Samples::new();
    let mut peak = 0;
    for _ in 0..STARTS {
        let stats = process::run(maas, &dir, &["stats"])?;
        walls.push(stats.wall);
        peak = peak.max(stats.peak_kib.unwrap_or(0));
    }
    found.one_shot = Some(walls.median());
    rows.push(
        Row::value(
            HISTORY,
            &format!("one-shot `maas stats` ({label})"),
            "maas process",
            ms(walls.median()),
            "ms",
        )
        .note(format!(
            "median of {STARTS} runs ({}); from the {} import saved; peak RSS {} MiB",
            spread(&walls),
            if imaged { "state image" } else { "snapshot" },
            peak >> 10
        )),
    );

    let options = RuntimeOptions {
        snapshot_every: 0,
        ..RuntimeOptions::default()
    };
    if imaged {
        started(
            &label,
            "from the state image",
            "the image holds the search indexes",
            &classes,
            rows,
            || datadir::open_with(&dir, options.clone()).map_err(|e| e.message()),
        )?;
    }
    let mut rt = started(
        &label,
        "from a snapshot",
        "builds the search indexes in bulk",
        &classes,
        rows,
        || {
            let journal = datadir::open_journal(&dir).map_err(|e| e.message())?;
            let core = CoreImage::shared().map_err(|e| e.message())?;
            // No state image: the snapshot path.
            Runtime::new(core, journal, options.clone()).map_err(|e| e.message())
        },
    )?;
    let mut worst = Duration::ZERO;
    for (q, base) in classes.iter().zip(&native) {
        let s = search_component(&mut rt, q, reps);
        worst = worst.max(s.p95());
        rows.push(
            Row::latency(
                SEARCH,
                &format!("{label}: {}", q.class),
                "component (SQLite)",
                &s,
            )
            .against("native", Some(*base)),
        );
    }
    found.search_p95 = Some(worst);
    drop(rt);

    let all = entries(&export)?;
    let mut memory = MemoryJournal::new();
    for (i, data) in all.iter().enumerate() {
        memory.append(i as u64, data, false).map_err(err)?;
    }
    drop(all);
    let t = Instant::now();
    let image = CoreImage::shared().map_err(|e| e.message())?;
    let rt = Runtime::new(image, Box::new(memory), options).map_err(|e| e.message())?;
    let replay = t.elapsed();
    drop(rt);
    rows.push(Row::value(
        HISTORY,
        &format!("start-up replaying every entry ({label})"),
        "component (memory journal)",
        ms(replay),
        "ms",
    ));

    eprintln!("maas bench: serving {size} memories");
    // Started STARTS times (killed, so no stop writes anything); the last one serves.
    let mut readies = Samples::new();
    let mut server = process::serve(maas, &dir)?;
    readies.push(server.ready_after);
    for _ in 1..STARTS {
        drop(server);
        server = process::serve(maas, &dir)?;
        readies.push(server.ready_after);
    }
    found.serve_ready = Some(readies.median());
    let rss = proc_kib(Some(server.pid()), "VmRSS").unwrap_or(0);
    rows.push(
        Row::value(
            HISTORY,
            &format!("`maas serve` ready ({label})"),
            "maas process",
            ms(readies.median()),
            "ms",
        )
        .note(format!(
            "median of {STARTS} starts ({}); from the {}; RSS when ready {} MiB",
            spread(&readies),
            if imaged { "state image" } else { "snapshot" },
            rss >> 10
        )),
    );
    if mcp {
        found.mcp_search_p95 = mcp_search(&server, &classes, &native, reps, &label, rows)?;
        let rss = proc_kib(Some(server.pid()), "VmRSS").unwrap_or(0);
        rows.push(Row::value(
            HISTORY,
            &format!("`maas serve` RSS after the searches ({label})"),
            "maas process",
            (rss >> 10) as f64,
            "MiB",
        ));
        #[cfg(feature = "bench-mcp")]
        if let Some(q) = classes.first() {
            super::clients::many(
                &server,
                super::clients::CLIENTS,
                &q.query,
                reps,
                &label,
                rows,
            )?;
        }
    }
    drop(server);
    // Last: it changes the data directory (stores, and snapshots after the image).
    snapshot_stall(&dir, &label, rows)?;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&export);
    Ok(found)
}

/// Stores note `i` as the agent in every pool.
fn store_note(rt: &mut Runtime, i: usize) -> Result<(), String> {
    super::store(rt, EVERYWHERE, i).map_err(|e| e.message())
}

/// What a snapshot falling due costs those calling: saved by the core serving them,
/// every call waits until it is written; saved beside it (as `maas serve` and `maas mcp`
/// do), calls go on. Stores one note after another (each synced) as the agent in every
/// pool, first with nothing being saved, then while a second core saves beside.
fn snapshot_stall(dir: &Path, label: &str, rows: &mut Vec<Row>) -> Result<(), String> {
    let mut limits = crate::default_limits();
    // A generated history of a million memories fills the default capacity.
    limits.memories = 100_000_000;
    let options = RuntimeOptions {
        limits,
        snapshot_every: 0,
        snapshots_beside: Some(datadir::journal_opener(dir)),
        ..RuntimeOptions::default()
    };
    let journal = datadir::open_journal(dir).map_err(|e| e.message())?;
    let core = CoreImage::shared().map_err(|e| e.message())?;
    let mut rt = Runtime::new(core, journal, options).map_err(|e| e.message())?;
    let mut i = 0;
    // The first store builds the read-access bitmaps.
    for _ in 0..STALL_WARM_UP {
        i += 1;
        store_note(&mut rt, i)?;
    }
    let quiet = each(STALL_STORES, |_| {
        i += 1;
        let _ = store_note(&mut rt, i);
    });
    let t = Instant::now();
    rt.snapshot().map_err(|e| e.message())?;
    let itself = t.elapsed();
    rows.push(
        Row::value(
            HISTORY,
            &format!("a snapshot saved by the core serving calls ({label})"),
            "component (SQLite)",
            ms(itself),
            "ms",
        )
        .note(format!(
            "{} MiB; every call waits this long",
            rt.snapshot_bytes() >> 20
        )),
    );
    let before = rt.last_snapshot();
    if !rt.snapshot_beside() {
        return Err("no snapshot could be asked for beside the core".into());
    }
    let t = Instant::now();
    let mut during = Samples::new();
    // When the slowest store began, from the ask.
    let mut slowest = (Duration::ZERO, Duration::ZERO);
    while rt.saving_beside() {
        if t.elapsed() > Duration::from_secs(600) {
            return Err("the snapshot beside took over 10 minutes".into());
        }
        i += 1;
        let s = Instant::now();
        store_note(&mut rt, i)?;
        let took = s.elapsed();
        if took > slowest.1 {
            slowest = (s - t, took);
        }
        during.push(took);
    }
    let beside = t.elapsed();
    if rt.last_snapshot() <= before {
        let why = rt.notices().last().cloned().unwrap_or_default();
        return Err(format!("the snapshot beside was not saved: {why}"));
    }
    rows.push(
        Row::latency(
            HISTORY,
            &format!("store a note, nothing being saved ({label})"),
            "component (SQLite)",
            &quiet,
        )
        .note(format!("max {:.2} ms", ms(quiet.max()))),
    );
    rows.push(
        Row::latency(
            HISTORY,
            &format!("store a note while a snapshot is saved beside ({label})"),
            "component (SQLite)",
            &during,
        )
        .against("nothing being saved", Some(quiet.median()))
        .note(format!(
            "{} stores during the {:.1} s the second core took (started from the newest \
             snapshot, then the save); max {:.2} ms (begun {:.2} s in), against {:.0} ms \
             for the save by the serving core",
            during.len(),
            beside.as_secs_f64(),
            ms(slowest.1),
            slowest.0.as_secs_f64(),
            ms(itself)
        )),
    );
    Ok(())
}

#[cfg(feature = "bench-mcp")]
fn mcp_search(
    server: &process::Server,
    classes: &[QueryClass],
    native: &[Duration],
    reps: usize,
    label: &str,
    rows: &mut Vec<Row>,
) -> Result<Option<(Duration, Duration)>, String> {
    use super::mcp::{FLOOR_TOOL, Mcp, runtime};
    use serde_json::json;
    let rt = runtime()?;
    let client = Mcp::http(rt.clone(), &server.url)?;
    let floor = each(reps, |_| {
        let _ = client.call(FLOOR_TOOL, json!({}));
    });
    rows.push(Row::latency(
        SEARCH,
        &format!("{label}: no-op tool ({FLOOR_TOOL})"),
        "MCP HTTP, 1 client",
        &floor,
    ));
    // After a snapshot the server's first search builds the search indexes its restore
    // left for later; a state image holds them already.
    if let Some(q) = classes.first() {
        let first = each(1, |_| {
            let _ = client.call(
                "search_memories",
                json!({"agent_id": EVERYWHERE, "query": q.query, "limit": 10}),
            );
        });
        rows.push(
            Row::latency(
                SEARCH,
                &format!("{label}: first search after `maas serve` started"),
                "MCP HTTP, 1 client",
                &first,
            )
            .note("builds the search indexes after a snapshot, not after a state image"),
        );
    }
    let mut worst = Duration::ZERO;
    for (q, base) in classes.iter().zip(native) {
        let s = each(reps, |_| {
            let _ = client.call(
                "search_memories",
                json!({"agent_id": EVERYWHERE, "query": q.query, "limit": 10}),
            );
        });
        worst = worst.max(s.p95());
        rows.push(
            Row::latency(
                SEARCH,
                &format!("{label}: {}", q.class),
                "MCP HTTP, 1 client",
                &s,
            )
            .against("native", Some(*base))
            .note(format!(
                "{:.1}x the no-op tool",
                ms(s.median()) / ms(floor.median()).max(1e-9)
            )),
        );
    }
    if let Some(q) = classes.first() {
        let clients: Vec<Mcp> = (0..16)
            .map(|_| Mcp::http(rt.clone(), &server.url))
            .collect::<Result<_, _>>()?;
        for (what, tool, args) in [
            ("no-op tool", FLOOR_TOOL, json!({})),
            (
                q.class,
                "search_memories",
                json!({"agent_id": EVERYWHERE, "query": q.query, "limit": 10}),
            ),
        ] {
            let per = reps.div_ceil(4).max(5);
            let threads: Vec<_> = clients
                .iter()
                .map(|c| {
                    let (c, args) = (c.clone(), args.clone());
                    std::thread::spawn(move || {
                        each(per, |_| {
                            let _ = c.call(tool, args.clone());
                        })
                    })
                })
                .collect();
            let mut all = Samples::new();
            for t in threads {
                if let Ok(s) = t.join() {
                    all.extend(s);
                }
            }
            rows.push(Row::latency(
                SEARCH,
                &format!("{label}: {what}"),
                "MCP HTTP, 16 clients",
                &all,
            ));
        }
    }
    Ok(Some((worst, floor.p95())))
}

#[cfg(not(feature = "bench-mcp"))]
fn mcp_search(
    _server: &process::Server,
    _classes: &[QueryClass],
    _native: &[Duration],
    _reps: usize,
    _label: &str,
    _rows: &mut Vec<Row>,
) -> Result<Option<(Duration, Duration)>, String> {
    Ok(None)
}

const KNOWLEDGE: &str = "Knowledge search";

fn to_wit(d: &maas_core::state::Document) -> knowledge::Document {
    knowledge::Document {
        kind: match d.kind {
            DocumentKind::Code => knowledge::DocumentKind::Code,
            DocumentKind::Decision => knowledge::DocumentKind::Decision,
            DocumentKind::Incident => knowledge::DocumentKind::Incident,
        },
        id: d.id.clone(),
        title: d.title.clone(),
        content: d.content.clone(),
        service: d.service.clone(),
        path: d.path.clone(),
        topic: d.topic.clone(),
        severity: d.severity.clone(),
        lines: d.lines.map(|l| knowledge::LineRange {
            start: l.start,
            end: l.end,
        }),
    }
}

/// Ingests `count` documents natively and into the component (memory journal), then
/// searches code by query class on both.
pub fn knowledge_search(
    count: usize,
    seed: u64,
    reps: usize,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    eprintln!("maas bench: knowledge search over {count} documents");
    let docs = super::documents::documents(seed, count);
    let mut native = workloads::native_core()?;
    let image = CoreImage::shared().map_err(|e| e.message())?;
    let mut rt = Runtime::new(
        image,
        Box::new(MemoryJournal::new()),
        RuntimeOptions {
            snapshot_every: 0,
            ..RuntimeOptions::default()
        },
    )
    .map_err(|e| e.message())?;
    let op = types::Caller::Operator;
    let mut ingest_native = Samples::new();
    let mut ingest_component = Samples::new();
    for chunk in crate::ingest::batches(&docs, maas_core::limits::MAX_DOCUMENTS, |d| {
        d.title.len() + d.content.len()
    }) {
        ingest_native
            .time(|| native.ingest(&Caller::Operator, chunk))
            .map_err(err)?;
        let wit: Vec<knowledge::Document> = chunk.iter().map(to_wit).collect();
        ingest_component
            .time(|| rt.call(|c, s| c.maas_core_knowledge().call_ingest(s, &op, &wit)))
            .map_err(|e| e.message())?;
    }
    let label = format!("{count} documents");
    rows.push(Row::latency(
        KNOWLEDGE,
        &format!("ingest 1,000 documents ({label})"),
        "native",
        &ingest_native,
    ));
    rows.push(
        Row::latency(
            KNOWLEDGE,
            &format!("ingest 1,000 documents ({label})"),
            "component (memory journal)",
            &ingest_component,
        )
        .against("native", Some(ingest_native.median())),
    );
    for q in corpus::query_classes() {
        let n = each(reps, |_| {
            let _ = native.search_documents(
                &Caller::Operator,
                DocumentKind::Code,
                &q.query,
                &Filters::default(),
                10,
            );
        });
        let c = each(reps, |_| {
            let _ = rt.call(|c, s| {
                c.maas_core_knowledge()
                    .call_search_code(s, &op, &q.query, None, 10)
            });
        });
        let name = format!("search code, {label}: {}", q.class);
        rows.push(Row::latency(KNOWLEDGE, &name, "native", &n).note(format!("`{}`", q.query)));
        rows.push(
            Row::latency(KNOWLEDGE, &name, "component (memory journal)", &c)
                .against("native", Some(n.median())),
        );
    }
    Ok(())
}

/// The scratch directory of a run.
pub fn work_dir(base: &Path) -> PathBuf {
    base.join(format!("bench-work-{}", std::process::id()))
}
