//! A thousand MCP clients at once against `maas serve`: each one an agent of its own, with
//! its own token and session (the server caps sessions per principal), opened together,
//! then calling together. Beside them, one client's calls with no other session open and
//! with the others open but idle, in the same process, as the baseline. Built with the
//! `bench-mcp` feature only.

use super::mcp::{self, Client, FLOOR_TOOL, Mcp, runtime};
use super::process;
use super::report::Row;
use super::stats::{Samples, each, ms, proc_kib};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clients opened at once.
pub const CLIENTS: usize = 1000;

const SECTION: &str = "A thousand clients at once (MCP HTTP, an agent and a session each)";

/// Calls each client makes of each tool when all call at once.
const PER_CLIENT: usize = 3;

fn agent(i: usize) -> String {
    format!("client-{i:04}")
}

fn tool_args(tool: &str, agent: &str, query: &str, n: usize) -> Value {
    match tool {
        "search_memories" => json!({"agent_id": agent, "query": query, "limit": 10}),
        "store_memory" => json!({
            "agent_id": agent,
            "memory_type": "note",
            "content": format!("{agent} note {n}: the deploy of the billing service waits for the cache warm-up"),
            "tags": ["bench"],
        }),
        _ => json!({}),
    }
}

/// The outcome of every client calling at once.
struct Burst {
    samples: Samples,
    wall: Duration,
    failed: usize,
    first_error: Option<String>,
}

impl Burst {
    fn note(&self) -> String {
        let answered = self.samples.len();
        let mut note = format!(
            "{answered} calls answered in {:.2} s ({:.0}/s); p99 {:.1} ms; max {:.1} ms",
            self.wall.as_secs_f64(),
            answered as f64 / self.wall.as_secs_f64().max(1e-9),
            ms(self.samples.p99()),
            ms(self.samples.max()),
        );
        if self.failed > 0 {
            note.push_str(&format!(
                "; {} failed, the first: {}",
                self.failed,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        note
    }
}

/// Every client makes `per` calls of `tool`, one after another, all clients at once.
fn burst(
    rt: &tokio::runtime::Runtime,
    clients: &[(usize, Arc<Client>)],
    tool: &'static str,
    query: &str,
    per: usize,
) -> Burst {
    let start = Instant::now();
    let results = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, c) in clients {
            let (i, c, query) = (*i, c.clone(), query.to_string());
            set.spawn(async move {
                let id = agent(i);
                let mut out: Vec<Result<Duration, String>> = Vec::with_capacity(per);
                for n in 0..per {
                    let t = Instant::now();
                    out.push(
                        mcp::call(&c, tool, tool_args(tool, &id, &query, n))
                            .await
                            .map(|_| t.elapsed()),
                    );
                }
                out
            });
        }
        let mut all = Vec::new();
        while let Some(r) = set.join_next().await {
            match r {
                Ok(v) => all.extend(v),
                Err(e) => all.push(Err(e.to_string())),
            }
        }
        all
    });
    let wall = start.elapsed();
    let mut b = Burst {
        samples: Samples::new(),
        wall,
        failed: 0,
        first_error: None,
    };
    for r in results {
        match r {
            Ok(d) => b.samples.push(d),
            Err(e) => {
                b.failed += 1;
                b.first_error.get_or_insert(e);
            }
        }
    }
    b
}

/// Client `i`'s no-op and search calls, `reps` each; a failed call is an error.
fn alone(
    rt: &tokio::runtime::Runtime,
    i: usize,
    client: &Client,
    query: &str,
    reps: usize,
) -> Result<(Samples, Samples), String> {
    let id = agent(i);
    let mut failed = None;
    let floor = each(reps, |_| {
        if let Err(e) = rt.block_on(mcp::call(client, FLOOR_TOOL, json!({}))) {
            failed.get_or_insert(e);
        }
    });
    let search = each(reps, |n| {
        if let Err(e) = rt.block_on(mcp::call(
            client,
            "search_memories",
            tool_args("search_memories", &id, query, n),
        )) {
            failed.get_or_insert(e);
        }
    });
    match failed {
        Some(e) => Err(format!("client {id} alone: {e}")),
        None => Ok((floor, search)),
    }
}

fn rss_mib(server: &process::Server) -> f64 {
    proc_kib(Some(server.pid()), "VmRSS").unwrap_or(0) as f64 / 1024.0
}

/// Registers `n` agents, opens a session for each at once, and measures the calls.
pub fn many(
    server: &process::Server,
    n: usize,
    query: &str,
    reps: usize,
    label: &str,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let rt = runtime()?;
    let operator = Mcp::http(rt.clone(), &server.url)?;
    let t = Instant::now();
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let r = operator.call(
            "register_agent",
            json!({"agent_type": "claude_code", "owner_id": format!("owner-{:02}", i % 50), "agent_id": agent(i)}),
        )?;
        let token = r
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("register_agent answered without a token: {r}"))?;
        tokens.push(token.to_string());
    }
    let registered = t.elapsed();
    let Some(first) = tokens.first() else {
        return Ok(());
    };
    let url = server.url.clone();

    // The baseline: one agent's session, no other open.
    let one = rt.block_on(mcp::connect(&url, Some(first)))?;
    let (floor_alone, search_alone) = alone(&rt, 0, &one, query, reps)?;
    drop(one);

    // Every agent opens its session at once.
    let rss_before = rss_mib(server);
    let start = Instant::now();
    let opened = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, token) in tokens.iter().enumerate() {
            let (url, token) = (url.clone(), token.clone());
            set.spawn(async move {
                let t = Instant::now();
                let c = mcp::connect(&url, Some(&token)).await;
                (i, c.map(|c| (c, t.elapsed())))
            });
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(r) = r {
                out.push(r);
            }
        }
        out
    });
    let open_wall = start.elapsed();
    let mut opens = Samples::new();
    // Each client with the number of its agent, whose token opened its session.
    let mut clients: Vec<(usize, Arc<Client>)> = Vec::with_capacity(n);
    let mut open_errors = Vec::new();
    for (i, r) in opened {
        match r {
            Ok((c, d)) => {
                opens.push(d);
                clients.push((i, Arc::new(c)));
            }
            Err(e) => open_errors.push(e),
        }
    }
    clients.sort_by_key(|(i, _)| *i);
    let rss_open = rss_mib(server);
    let per_session_kib = (rss_open - rss_before) * 1024.0 / opens.len().max(1) as f64;
    let mut note = format!(
        "{} of {n} opened in {:.2} s; p99 {:.1} ms; server RSS {:.0} → {:.0} MiB (about {:.0} KiB a session); {n} agents registered first in {:.1} s",
        opens.len(),
        open_wall.as_secs_f64(),
        ms(opens.p99()),
        rss_before,
        rss_open,
        per_session_kib,
        registered.as_secs_f64()
    );
    if let Some(e) = open_errors.first() {
        note.push_str(&format!("; {} failed, the first: {e}", open_errors.len()));
    }
    rows.push(
        Row::latency(
            SECTION,
            &format!("{label}: open a session (initialize), all at once"),
            &format!("MCP HTTP, {n} clients"),
            &opens,
        )
        .note(note),
    );
    let Some((first_i, first)) = clients.first() else {
        return Err(format!("no session of {n} opened"));
    };

    // One client calls while every other session is open and idle.
    let (floor_idle, search_idle) = alone(&rt, *first_i, first, query, reps)?;
    let others = clients.len().saturating_sub(1);
    for (what, s, base) in [
        ("no-op tool", &floor_idle, &floor_alone),
        ("search, common word", &search_idle, &search_alone),
    ] {
        rows.push(
            Row::latency(
                SECTION,
                &format!("{label}: {what}, one client beside {others} idle sessions"),
                "MCP HTTP, 1 of the clients",
                s,
            )
            .against("no other session open", Some(base.median())),
        );
    }

    // Every client calls at once.
    let floor_base = ("the no-op tool, one client alone", &floor_alone);
    for (what, tool, (baseline, base)) in [
        ("no-op tool", FLOOR_TOOL, floor_base),
        (
            "search, common word",
            "search_memories",
            ("the same search, one client alone", &search_alone),
        ),
        ("store a note", "store_memory", floor_base),
    ] {
        let b = burst(&rt, &clients, tool, query, PER_CLIENT);
        rows.push(
            Row::latency(
                SECTION,
                &format!("{label}: {what}, every client at once ({PER_CLIENT} calls each)"),
                &format!("MCP HTTP, {} clients", clients.len()),
                &b.samples,
            )
            .against(baseline, Some(base.median()))
            .note(b.note()),
        );
    }
    rows.push(Row::value(
        SECTION,
        &format!("{label}: server RSS with {} sessions open", clients.len()),
        "maas process",
        rss_mib(server),
        "MiB",
    ));
    drop(clients);
    Ok(())
}
