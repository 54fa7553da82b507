//! The targets, each beside what a run measured for it, marked met, missed or not run.

use super::report::Target;
use super::scale::SizeFindings;
use super::stats::ms;
use super::suite::Layer;
use super::workloads;
use std::time::Duration;

fn t(target: &str, measured: String, met: Option<bool>) -> Target {
    Target {
        target: target.into(),
        measured,
        met,
    }
}

/// The targets against the figures of a run.
pub(super) fn targets(
    layers: &[Layer],
    found: &[SizeFindings],
    at64: Option<f64>,
    single: Option<(Duration, Duration)>,
) -> Vec<Target> {
    let mut out = Vec::new();
    let big = found.iter().find(|f| f.size >= 1_000_000);
    let largest = found.iter().max_by_key(|f| f.size);
    let of = |f: &SizeFindings| format!("at {} memories", f.size);
    out.push(match big.and_then(|f| f.search_p95.map(|p| (f, p))) {
        Some((f, p)) => t(
            "search p95 < 5 ms per query class through the component, 1M memories",
            format!("worst class {:.2} ms {}", ms(p), of(f)),
            Some(p < Duration::from_millis(5)),
        ),
        None => t(
            "search p95 < 5 ms per query class through the component, 1M memories",
            largest
                .and_then(|f| {
                    f.search_p95
                        .map(|p| format!("worst class {:.2} ms {}; 1M not run", ms(p), of(f)))
                })
                .unwrap_or_else(|| "not run".into()),
            None,
        ),
    });
    let mcp = "search p95 within the no-op floor + 5 ms over MCP HTTP, 1M memories";
    out.push(match big.and_then(|f| f.mcp_search_p95.map(|p| (f, p))) {
        Some((f, (p, floor))) => t(
            mcp,
            format!(
                "worst class {:.2} ms, floor {:.2} ms {}",
                ms(p),
                ms(floor),
                of(f)
            ),
            Some(p < floor + Duration::from_millis(5)),
        ),
        None => t(
            mcp,
            largest
                .and_then(|f| {
                    f.mcp_search_p95.map(|(p, fl)| {
                        format!(
                            "worst class {:.2} ms, floor {:.2} ms {}; 1M not run",
                            ms(p),
                            ms(fl),
                            of(f)
                        )
                    })
                })
                .unwrap_or_else(|| "not run".into()),
            None,
        ),
    });
    let at_largest = |name: &str, v: Option<(Duration, &SizeFindings)>, limit: Duration| match v {
        Some((d, f)) => t(name, format!("{:.0} ms {}", ms(d), of(f)), Some(d < limit)),
        None => t(name, "not run".into(), None),
    };
    out.push(at_largest(
        "`maas serve` ready < 1 s from a snapshot (or the state image, where there is one)",
        largest.and_then(|f| f.serve_ready.map(|d| (d, f))),
        Duration::from_secs(1),
    ));
    out.push(at_largest(
        "a one-shot CLI command (`maas stats`) < 1 s",
        largest.and_then(|f| f.one_shot.map(|d| (d, f))),
        Duration::from_secs(1),
    ));
    let import = "`maas import` < 60 s at 1M memories";
    out.push(match big.and_then(|f| f.import.map(|d| (d, f))) {
        Some((d, f)) => t(
            import,
            format!("{:.1} s {}", d.as_secs_f64(), of(f)),
            Some(d < Duration::from_secs(60)),
        ),
        None => t(
            import,
            largest
                .and_then(|f| {
                    f.import
                        .map(|d| format!("{:.1} s {}; 1M not run", d.as_secs_f64(), of(f)))
                })
                .unwrap_or_else(|| "not run".into()),
            None,
        ),
    });
    let component = layers
        .iter()
        .find(|l| l.name == "component (memory journal)");
    let lookup = component.and_then(|l| {
        l.outcomes
            .iter()
            .find(|o| o.workload == workloads::NAMES[3])
            .map(|o| (o.per_op.median(), l.floor.median()))
    });
    out.push(match lookup {
        Some((read, floor)) if !floor.is_zero() => t(
            "audited reads within 2x an empty call (agents.get)",
            format!(
                "{:.4} ms = {:.2}x the empty call ({:.4} ms)",
                ms(read),
                ms(read) / ms(floor),
                ms(floor)
            ),
            Some(read.as_secs_f64() <= 2.0 * floor.as_secs_f64()),
        ),
        _ => t(
            "audited reads within 2x an empty call (agents.get)",
            "not run".into(),
            None,
        ),
    });
    out.push(match at64 {
        Some(w) => t(
            ">= 30,000 durable changes/s with 64 writers",
            format!("{w:.0}/s"),
            Some(w >= 30_000.0),
        ),
        None => t(
            ">= 30,000 durable changes/s with 64 writers",
            "not run".into(),
            None,
        ),
    });
    out.push(match single {
        Some((write, fsync)) => t(
            "a single durable writer within 1.5x one fsync",
            format!(
                "{:.2} ms per write, fsync {:.2} ms ({:.2}x)",
                ms(write),
                ms(fsync),
                ms(write) / ms(fsync).max(1e-9)
            ),
            Some(write.as_secs_f64() <= 1.5 * fsync.as_secs_f64()),
        ),
        None => t(
            "a single durable writer within 1.5x one fsync",
            "not run".into(),
            None,
        ),
    });
    let durable = layers.iter().find(|l| l.name == "component (SQLite)");
    for name in workloads::NAMES {
        let goal = workloads::original_target(name) / 100;
        let label = format!(
            "{name}: >= 100x under the original {} ms per operation, durable layer",
            ms(workloads::original_target(name))
        );
        out.push(
            match durable.and_then(|l| l.outcomes.iter().find(|o| o.workload == name)) {
                Some(o) if o.ok => t(
                    &label,
                    format!(
                        "{:.4} ms per operation (goal {:.4} ms)",
                        ms(o.per_op.median()),
                        ms(goal)
                    ),
                    Some(o.per_op.median() <= goal),
                ),
                Some(o) => t(
                    &label,
                    format!("failed: {}", o.error.clone().unwrap_or_default()),
                    Some(false),
                ),
                None => t(&label, "not run".into(), None),
            },
        );
    }
    out
}
