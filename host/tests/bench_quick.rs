//! `maas bench --quick`, the benchmark's mode for CI, runs end to end and writes
//! BENCHMARKS.md and benchmarks.json with every section, target and layer the full
//! run has (the MCP rows only with `--features bench-mcp`). Timings are reported, never
//! checked: a row must hold a finite figure, not a fast one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod temp_support;

use serde_json::Value;
use std::process::Command;
use temp_support::TempDir;

#[test]
fn the_quick_bench_writes_both_files_with_every_section() {
    let out = TempDir::new("bench-quick");
    let run = Command::new(env!("CARGO_BIN_EXE_maas"))
        .args(["bench", "--quick", "--out"])
        .arg(&out.0)
        .env_remove("MAAS_TOKEN")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "maas bench --quick failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );

    let json: Value =
        serde_json::from_slice(&std::fs::read(out.0.join("benchmarks.json")).unwrap()).unwrap();
    assert_eq!(json["mode"], "quick");
    let rows = json["rows"].as_array().unwrap();
    let has = |name: &str, layer: &str| {
        rows.iter()
            .any(|r| r["name"].as_str().is_some_and(|n| n.contains(name)) && r["layer"] == layer)
    };
    // The original design's six workloads at the three layers every build has.
    for workload in [
        "100 shares into a project pool",
        "100 handoffs initiated to one target",
        "50 handoff cycles",
        "lookup among 1,000 agents",
        "query of a pool holding 500 shares",
        "15 concurrent writers x 20 shares",
    ] {
        for layer in ["native", "component (memory journal)", "component (SQLite)"] {
            assert!(has(workload, layer), "no row for {workload} on {layer}");
        }
    }
    // Scale: search by query class, start-up, import, durable writers.
    for name in [
        "common word",
        "rare word",
        "`maas import`",
        "one-shot `maas stats`",
        "`maas serve` ready",
        "64 writers, group commit",
    ] {
        assert!(
            rows.iter()
                .any(|r| r["name"].as_str().is_some_and(|n| n.contains(name))),
            "no row named like {name:?}"
        );
    }
    // Every figure is a finite non-negative number.
    for r in rows {
        for field in ["median_ms", "p95_ms", "value"] {
            if let Some(x) = r[field].as_f64() {
                assert!(x.is_finite() && x >= 0.0, "{field} of {r}");
            }
        }
        assert!(
            r["median_ms"].is_number() || r["value"].is_number(),
            "a row without a figure: {r}"
        );
    }
    // Every target is listed with what was measured and a verdict (or why not run).
    let targets = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 14, "{targets:?}");
    for t in targets {
        assert!(t["target"].is_string() && t["measured"].is_string(), "{t}");
    }

    // Over MCP (a build with the rmcp client): the protocol layers, and a thousand
    // clients, each with a session of its own, every call answered.
    if cfg!(feature = "bench-mcp") {
        for layer in ["MCP stdio", "MCP HTTP, 1 client", "MCP HTTP, 1000 clients"] {
            assert!(
                rows.iter().any(|r| r["layer"] == layer),
                "no row on {layer}"
            );
        }
        let thousand: Vec<&Value> = rows
            .iter()
            .filter(|r| r["layer"] == "MCP HTTP, 1000 clients")
            .collect();
        assert_eq!(thousand.len(), 4, "{thousand:?}");
        for r in thousand {
            let note = r["note"].as_str().unwrap();
            assert!(!note.contains("failed"), "{r}");
            assert!(r["median_ms"].is_number(), "{r}");
        }
        assert!(
            rows.iter().any(|r| r["name"]
                .as_str()
                .is_some_and(|n| n.contains("one client beside 999 idle sessions"))),
            "no row of one client among idle sessions"
        );
    }

    let md = std::fs::read_to_string(out.0.join("BENCHMARKS.md")).unwrap();
    for heading in [
        "## Targets",
        "## Floors",
        "## The original design's six exit criteria",
        "## Memory search by query class",
    ] {
        assert!(md.contains(heading), "BENCHMARKS.md lacks {heading}");
    }
}
