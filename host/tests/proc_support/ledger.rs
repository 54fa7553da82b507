//! The record of what each client of a crash test was told: the changes acknowledged to
//! it and the one it has in flight, and the check of a restarted server against it.

use super::{Client, Outcome, Rng, maas, ok, try_call};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Where a handoff stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Accepted,
    Rejected,
    Completed,
    Cancelled,
}

/// The status of a handoff as the server shows it.
pub fn status_of(v: &Value) -> Status {
    match v["status"].as_str().unwrap() {
        "pending" => Status::Pending,
        "accepted" => Status::Accepted,
        "rejected" => Status::Rejected,
        "completed" => Status::Completed,
        "cancelled" => Status::Cancelled,
        other => panic!("unexpected handoff status {other}"),
    }
}

/// The change a client has sent and not yet seen acknowledged: it may or may not have
/// happened, so a check allows both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inflight {
    Register(String),
    Pool(String),
    Join(String),
    Store(String),
    Share(String),
    Update(String),
    Initiate(String),
    Move(String, Status),
}

/// What one client was told, which every restarted server must show.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub worker: usize,
    pub owner: String,
    pub target: String,
    pub agents: BTreeSet<String>,
    /// Pool id → (members, shares).
    pub pools: BTreeMap<String, (u64, u64)>,
    /// Memory id → (author, version).
    pub memories: BTreeMap<String, (String, u64)>,
    /// Handoff id → (referenced memory, status).
    pub handoffs: BTreeMap<String, (String, Status)>,
    pub inflight: Option<Inflight>,
    /// Memories and handoffs changed since the last check.
    pub fresh: BTreeSet<String>,
    pub acks: u64,
    /// Reads by the target agent whose answer reached it and after which the same server
    /// answered a change: each must be in the audit trail. (A server writes buffered
    /// read-audit rows with the next change, so a kill may lose only reads answered since
    /// its last change.)
    pub reads: u64,
    /// Calls whose answer was lost, and how many of them turned out to have happened.
    pub cut_off: u64,
    pub landed: u64,
}

/// The content of memory `mem` at `version`, so a read shows whether an update was
/// applied whole.
pub fn content(mem: &str, version: u64) -> String {
    format!("crash test memory {mem} at version {version}")
}

/// The entries of a listing by id.
pub fn by_id(v: &Value, key: &str) -> BTreeMap<String, Value> {
    let list = v[key].as_array().unwrap();
    list.iter()
        .map(|e| (e["id"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

/// A list tool's whole answer: its pages of 500, the entries of `key` of each joined
/// (a long run registers more than one page of agents).
async fn whole(op: &Client, tool: &str, key: &str, mut args: Value) -> Value {
    args["limit"] = json!(500);
    let mut all = Vec::new();
    loop {
        let page = ok(op, tool, args.clone()).await;
        all.extend(page[key].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => args["cursor"] = json!(cursor),
            None => return json!({ key: all }),
        }
    }
}

/// Checks what the quiet server shows against what the clients were told: every memory
/// when `all`, else those changed since the last check and a few others. Returns how
/// many acknowledged facts were checked.
pub async fn check(op: &Client, dir: &Path, ledgers: &[Ledger], all: bool, rng: &mut Rng) -> u64 {
    let mut facts = 0;
    let (mut agents, mut pools, mut pending, mut at_most_memories) = (0, 0, 0, 0);
    for l in ledgers {
        let w = l.worker;
        let flying = |i: Inflight| l.inflight.as_ref() == Some(&i);

        // Every acknowledged read left its entry in the read-audit log.
        let audit = json!({"agent_id": l.target, "event_type": "agent.read", "limit": 1000});
        let audit = ok(op, "get_audit_log", audit).await;
        let reads = audit["entries"].as_array().map_or(0, |list| {
            list.iter()
                .filter(|e| e["actor"] == l.target.as_str())
                .count()
        });
        assert!(
            reads as u64 >= l.reads.min(1000),
            "worker {w}: {} acknowledged reads but {reads} audit entries",
            l.reads
        );
        facts += 1;

        let listed = whole(
            op,
            "get_agents_for_user",
            "agents",
            json!({"user_id": l.owner}),
        )
        .await;
        let listed = by_id(&listed, "agents");
        for a in l.agents.iter().chain([&l.target]) {
            assert!(
                listed.contains_key(a),
                "worker {w}: acknowledged agent {a} lost"
            );
            facts += 1;
        }
        for a in listed.keys() {
            let known = l.agents.contains(a) || *a == l.target;
            assert!(
                known || flying(Inflight::Register(a.clone())),
                "worker {w}: agent {a} never acknowledged"
            );
        }
        agents += listed.len();

        let listed = by_id(
            &whole(op, "list_pools", "pools", json!({"owner_id": l.owner})).await,
            "pools",
        );
        for (p, (members, shares)) in &l.pools {
            let seen = listed
                .get(p)
                .unwrap_or_else(|| panic!("worker {w}: acknowledged pool {p} lost"));
            let (m, s) = (
                seen["member_count"].as_u64().unwrap(),
                seen["share_count"].as_u64().unwrap(),
            );
            let m_ok = m == *members || (m == members + 1 && flying(Inflight::Join(p.clone())));
            let s_ok = s == *shares || (s == shares + 1 && flying(Inflight::Share(p.clone())));
            assert!(
                m_ok && s_ok,
                "worker {w}: pool {p} has {m} members and {s} shares, told {members} and {shares}"
            );
            facts += 2;
        }
        for p in listed.keys() {
            let known = l.pools.contains_key(p) || flying(Inflight::Pool(p.clone()));
            assert!(known, "worker {w}: pool {p} never acknowledged");
        }
        pools += listed.len();

        let listed = whole(
            op,
            "get_agent_handoffs",
            "handoffs",
            json!({"agent_id": l.target}),
        )
        .await;
        let listed = by_id(&listed, "handoffs");
        for (h, (mem, told)) in &l.handoffs {
            let seen = listed
                .get(h)
                .unwrap_or_else(|| panic!("worker {w}: acknowledged handoff {h} lost"));
            let now = status_of(seen);
            let moved = flying(Inflight::Move(h.clone(), now));
            assert!(
                now == *told || moved,
                "worker {w}: handoff {h} is {now:?}, told {told:?}"
            );
            facts += 1;
            if all || l.fresh.contains(h) {
                // Accepting grants the target the memory in the same change, or not at all.
                let read = json!({"agent_id": l.target, "memory_id": mem});
                let granted = matches!(now, Status::Accepted | Status::Completed);
                match try_call(op, "get_memory", read).await {
                    Outcome::Done(_) => assert!(
                        granted,
                        "worker {w}: the target of {now:?} handoff {h} reads {mem}"
                    ),
                    Outcome::Refused(code, _) => {
                        assert!(
                            !granted && code == "not_found",
                            "worker {w}: the target of {now:?} handoff {h} cannot read {mem}: {code}"
                        )
                    }
                    Outcome::Unknown(e) => panic!("{e}"),
                }
                facts += 1;
            }
        }
        for (h, seen) in &listed {
            let src = seen["source_agent_id"].as_str().unwrap().to_string();
            let starting = status_of(seen) == Status::Pending && flying(Inflight::Initiate(src));
            assert!(
                l.handoffs.contains_key(h) || starting,
                "worker {w}: handoff {seen} never acknowledged"
            );
        }
        let counted = listed
            .values()
            .filter(|h| status_of(h) == Status::Pending)
            .count();
        let queue = whole(
            op,
            "get_pending_handoffs",
            "handoffs",
            json!({"agent_id": l.target}),
        )
        .await;
        assert_eq!(
            queue["handoffs"].as_array().unwrap().len(),
            counted,
            "worker {w}: pending queue"
        );
        pending += counted;

        let older: Vec<&String> = l
            .memories
            .keys()
            .filter(|m| !l.fresh.contains(*m))
            .collect();
        let mut picked: Vec<&String> = l
            .memories
            .keys()
            .filter(|m| all || l.fresh.contains(*m))
            .collect();
        for _ in 0..if all || older.is_empty() { 0 } else { 4 } {
            picked.push(older[rng.range(0, older.len() as u64) as usize]);
        }
        for m in picked {
            let (author, told) = &l.memories[m];
            let seen = ok(
                op,
                "get_memory",
                json!({"agent_id": author, "memory_id": m}),
            )
            .await;
            let v = seen["version"].as_u64().unwrap();
            let updating = flying(Inflight::Update(m.clone()));
            assert!(
                v == *told || (v == told + 1 && updating),
                "worker {w}: memory {m} at version {v}, told {told}"
            );
            assert_eq!(
                seen["content"],
                content(m, v).as_str(),
                "worker {w}: memory {m} half-updated"
            );
            facts += 1;
        }
        let storing =
            matches!(&l.inflight, Some(Inflight::Store(m)) if !l.memories.contains_key(m));
        at_most_memories += l.memories.len() + usize::from(storing);
    }

    // The counters the core keeps, read by another process on the same journal.
    let out = maas(dir).args(["--json", "stats"]).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    let counts = &stats["counts"];
    assert_eq!(
        counts["pending_handoffs"].as_u64(),
        Some(pending as u64),
        "pending vs recount: {stats}"
    );
    assert_eq!(counts["agents"].as_u64(), Some(agents as u64), "{stats}");
    assert_eq!(counts["pools"].as_u64(), Some(pools as u64), "{stats}");
    let memories = counts["memories"].as_u64().unwrap() as usize;
    let told: usize = ledgers.iter().map(|l| l.memories.len()).sum();
    assert!(
        (told..=at_most_memories).contains(&memories),
        "{memories} memories, told {told}: {stats}"
    );
    facts + 4
}

/// A copy of every client's ledger as it stands now.
pub fn snapshot(ledgers: &[Arc<Mutex<Ledger>>]) -> Vec<Ledger> {
    ledgers.iter().map(|l| l.lock().unwrap().clone()).collect()
}

/// Checked facts are no longer fresh (those that became fresh meanwhile stay).
pub fn forget_fresh(ledgers: &[Arc<Mutex<Ledger>>], checked: &[Ledger]) {
    for (l, seen) in ledgers.iter().zip(checked) {
        l.lock().unwrap().fresh.retain(|x| !seen.fresh.contains(x));
    }
}
