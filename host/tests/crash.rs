//! Nothing acknowledged is ever lost: clients change things concurrently through
//! `maas serve` while the server is killed with SIGKILL at random moments and restarted
//! on the same data directory. After every restart each change a client was told
//! succeeded is there, nothing it was not told about is (beyond the one call it had in
//! flight), and nothing is half-applied. Snapshots fall due every 50 entries, so they are
//! saved beside the serving core throughout, and a one-shot command (`maas stats`) runs
//! on the same data directory while each server serves, as a person's would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod proc_support;

use Status::{Accepted, Cancelled, Completed, Pending, Rejected};
use proc_support::ledger::{Inflight, Ledger, Status, check, content, forget_fresh};
use proc_support::ledger::{snapshot, status_of};
use proc_support::{Follower, Outcome, Rng, ServeProcess, Setup, connect_http, data_dir, ok};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Concurrent clients.
const WORKERS: usize = 4;
/// Restarts while the clients work (`MAAS_CRASH_RESTARTS` sets another number for a
/// longer soak): every [`CLEAN`]th stops the server with SIGTERM (which saves a snapshot,
/// so later starts restore one and replay the tail), the others kill it with SIGKILL. One
/// more kill follows at the end.
const RESTARTS: usize = 28;
const CLEAN: usize = 7;

/// How the servers run: snapshots due every 50 entries (or a tenth of the journal).
fn setup() -> Setup {
    Setup {
        serve: vec!["--snapshot-every".into(), "50".into()],
        ..Setup::default()
    }
}

/// Runs `maas stats` on `dir` while a server serves it, as a person would.
async fn stats_beside(dir: &std::path::Path) {
    let out = proc_support::maas(dir).arg("stats").output().await.unwrap();
    assert!(
        out.status.success(),
        "maas stats beside a server: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Tells from the answer of a read whether a change happened, and its result if it did.
type Judge = Box<dyn Fn(&Value) -> Option<Value> + Send>;

/// One change: the call, and the read that tells whether it happened when its answer
/// was lost (`judge` gives the change's result if it did).
struct Step {
    tool: &'static str,
    args: Value,
    inflight: Inflight,
    by_target: bool,
    look: (&'static str, Value),
    judge: Judge,
}

fn step(tool: &'static str, args: Value, inflight: Inflight) -> Step {
    Step {
        tool,
        args,
        inflight,
        by_target: false,
        look: ("whoami", json!({})),
        judge: Box::new(|_| None),
    }
}

impl Step {
    fn look(
        mut self,
        tool: &'static str,
        args: Value,
        judge: impl Fn(&Value) -> Option<Value> + Send + 'static,
    ) -> Step {
        self.look = (tool, args);
        self.judge = Box::new(judge);
        self
    }

    /// A handoff moving from `before` to `to`, by the target unless it is a cancel.
    fn moving(tool: &'static str, args: Value, h: &str, before: Status, to: Status) -> Step {
        let mut s = step(tool, args, Inflight::Move(h.to_string(), to)).look(
            "get_handoff",
            json!({"handoff_id": h}),
            move |v| {
                let now = status_of(v);
                assert!(now == to || now == before, "{v}");
                (now == to).then(|| json!({}))
            },
        );
        s.by_target = to != Status::Cancelled;
        s
    }
}

fn exists(_: &Value) -> Option<Value> {
    Some(json!({}))
}

/// Judges a listing: the change happened if `key` lists an entry whose `field` is `want`.
fn lists(
    key: &'static str,
    field: &'static str,
    want: &str,
) -> impl Fn(&Value) -> Option<Value> + use<> {
    let want = want.to_string();
    move |v| {
        let list = v[key].as_array().unwrap();
        list.iter()
            .any(|e| e[field] == want.as_str())
            .then(|| json!({}))
    }
}

/// One client: makes changes in a loop and records each acknowledged one.
struct Worker {
    op: Follower,
    target: Follower,
    ledger: Arc<Mutex<Ledger>>,
    rng: Rng,
    /// The servers (by generation) that answered reads not yet followed by a change
    /// answered directly.
    unsettled: Vec<usize>,
}

impl Worker {
    /// Runs `step` until it is known to have happened (looking on the next server when
    /// its answer is lost, and sending it again if it did not), then records it.
    async fn run(&mut self, step: Step, record: impl FnOnce(&mut Ledger, &Value)) -> Value {
        self.ledger.lock().unwrap().inflight = Some(step.inflight.clone());
        let (mut cut_off, mut landed) = (0, 0);
        let mut answered_by = None;
        let value = 'done: loop {
            let conn = if step.by_target {
                &mut self.target
            } else {
                &mut self.op
            };
            match conn.call(step.tool, step.args.clone()).await {
                Outcome::Done(v) => {
                    answered_by = conn.generation();
                    break v;
                }
                Outcome::Refused(code, body) => {
                    panic!("{} {} refused: {code} {body}", step.tool, step.args)
                }
                Outcome::Unknown(_) => cut_off += 1,
            }
            loop {
                match self.op.call(step.look.0, step.look.1.clone()).await {
                    Outcome::Done(v) => match (step.judge)(&v) {
                        Some(v) => {
                            landed += 1;
                            break 'done v;
                        }
                        None => break,
                    },
                    Outcome::Refused(code, _) if code == "not_found" => break,
                    Outcome::Refused(code, body) => panic!("{}: {code} {body}", step.look.0),
                    Outcome::Unknown(_) => {}
                }
            }
        };
        let mut ledger = self.ledger.lock().unwrap();
        if let Some(g) = answered_by {
            // Reads this server answered before this change are in the log now; reads
            // answered by an earlier server may have been lost with its buffer.
            let settled = self.unsettled.iter().filter(|r| **r == g).count();
            ledger.reads += settled as u64;
            self.unsettled.clear();
        }
        record(&mut ledger, &value);
        ledger.inflight = None;
        ledger.acks += 1;
        ledger.cut_off += cut_off;
        ledger.landed += landed;
        value
    }

    /// A fresh agent with a pool and a shared, updated memory, handed to the target,
    /// which then accepts (and perhaps completes), rejects, or leaves it; or the source
    /// cancels it.
    async fn iteration(&mut self, i: usize) {
        let (w, owner, target) = {
            let l = self.ledger.lock().unwrap();
            (l.worker, l.owner.clone(), l.target.clone())
        };
        // A read whose answer arrives must be in the audit trail after any crash, once the
        // same server has answered a change after it (its row is written with that change;
        // a kill before then may lose it, as the read-audit rows still buffered).
        let me = json!({"agent_id": target});
        if let Outcome::Done(_) = self.target.call("get_agent_info", me).await {
            self.unsettled.extend(self.target.generation());
        }
        let (src, pool, mem) = (
            format!("w{w}-a{i}"),
            format!("w{w}-p{i}"),
            format!("w{w}-m{i}"),
        );
        let args = json!({"agent_type": "claude_code", "owner_id": owner, "agent_id": src});
        let s = step("register_agent", args, Inflight::Register(src.clone()));
        let s = s.look("get_agent_info", json!({"agent_id": src}), exists);
        self.run(s, |l, _| _ = l.agents.insert(src.clone())).await;

        let args = json!({"name": pool, "owner_id": owner, "scope": "project", "pool_id": pool});
        let s = step("create_pool", args, Inflight::Pool(pool.clone()));
        let s = s.look("get_pool", json!({"pool_id": pool}), exists);
        self.run(s, |l, _| _ = l.pools.insert(pool.clone(), (0, 0)))
            .await;

        let args = json!({"pool_id": pool, "agent_id": src, "permission": "write"});
        let s = step("join_pool", args, Inflight::Join(pool.clone()));
        let s = s.look(
            "get_pool_members",
            json!({"pool_id": pool}),
            lists("members", "agent_id", &src),
        );
        self.run(s, |l, _| l.pools.get_mut(&pool).unwrap().0 += 1)
            .await;

        let read = json!({"agent_id": src, "memory_id": mem});
        let args = json!({"agent_id": src, "memory_id": mem, "memory_type": "fact", "content": content(&mem, 1)});
        let s = step("store_memory", args, Inflight::Store(mem.clone()));
        let s = s.look("get_memory", read.clone(), |v| Some(v.clone()));
        self.run(s, |l, v| {
            assert_eq!(v["version"], 1, "{v}");
            l.memories.insert(mem.clone(), (src.clone(), 1));
            l.fresh.insert(mem.clone());
        })
        .await;

        let args = json!({"pool_id": pool, "memory_id": mem, "agent_id": src, "scope": "project"});
        let s = step("share_memory_to_scope", args, Inflight::Share(pool.clone()));
        let listing = json!({"pool_id": pool, "agent_id": src});
        let s = s.look(
            "query_shared",
            listing,
            lists("memories", "memory_id", &mem),
        );
        self.run(s, |l, _| l.pools.get_mut(&pool).unwrap().1 += 1)
            .await;

        for from in 1..=self.rng.range(0, 3) {
            let args = json!({"agent_id": src, "memory_id": mem, "expected_version": from, "content": content(&mem, from + 1)});
            let s = step("update_memory", args, Inflight::Update(mem.clone()));
            let s = s.look("get_memory", read.clone(), move |v| {
                let now = v["version"].as_u64().unwrap();
                assert!(now == from || now == from + 1, "{v}");
                (now == from + 1).then(|| v.clone())
            });
            self.run(s, |l, v| {
                assert_eq!(v["version"].as_u64(), Some(from + 1), "{v}");
                l.memories.get_mut(&mem).unwrap().1 = from + 1;
                l.fresh.insert(mem.clone());
            })
            .await;
        }

        let args = json!({"source_agent_id": src, "target_agent_id": target, "task_description": format!("carry on from {src}"), "relevant_memories": [mem]});
        let s = step("initiate_handoff", args, Inflight::Initiate(src.clone()));
        let s = s.look("get_agent_handoffs", json!({"agent_id": src}), |v| {
            let list = v["handoffs"].as_array().unwrap();
            assert!(list.len() <= 1, "{v}");
            list.first().map(|h| json!({"handoff_id": h["id"]}))
        });
        let h = self.run(s, |l, v| {
            let h = v["handoff_id"].as_str().unwrap().to_string();
            l.handoffs.insert(h.clone(), (mem.clone(), Status::Pending));
            l.fresh.insert(h);
        });
        let h = h.await["handoff_id"].as_str().unwrap().to_string();

        let mv = |tool, agent: &str, extra: Value, before, to| {
            let mut args = json!({"handoff_id": h, "agent_id": agent});
            args.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            Step::moving(tool, args, &h, before, to)
        };
        let (none, done) = (json!({}), json!({"result": {"status": "success"}}));
        let accept = mv("accept_handoff", &target, none.clone(), Pending, Accepted);
        let complete = mv("complete_handoff", &target, done, Accepted, Completed);
        let reject = mv(
            "reject_handoff",
            &target,
            json!({"reason": "no"}),
            Pending,
            Rejected,
        );
        let cancel = mv("cancel_handoff", &src, none, Pending, Cancelled);
        let moves = match self.rng.range(0, 20) {
            0..6 => vec![accept, complete],
            6..10 => vec![accept],
            10..15 => vec![reject],
            15..17 => vec![cancel],
            _ => vec![],
        };
        for s in moves {
            let Inflight::Move(_, to) = s.inflight else {
                unreachable!()
            };
            self.run(s, |l, v| {
                if v.get("memories").is_some() {
                    assert_eq!(v["memories"][0]["memory_id"], mem.as_str(), "{v}");
                }
                l.handoffs.get_mut(&h).unwrap().1 = to;
                l.fresh.insert(h.clone());
            })
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_kill_9_at_random_moments() {
    let seed = Rng::seed("crash");
    let mut rng = Rng::new(seed);
    let dir = data_dir("crash");
    eprintln!("crash: data in {} (kept if the test fails)", dir.display());
    let mut server = ServeProcess::start_with(&dir, 0, &setup()).await;
    let token = std::fs::read_to_string(dir.join("operator-token")).unwrap();
    let token = token.trim().to_string();
    let op = connect_http(&server.url, &token).await.unwrap();

    let (publish, published) = watch::channel(Some((0, server.url.clone())));
    let stop = Arc::new(AtomicBool::new(false));
    let (mut ledgers, mut tasks) = (Vec::new(), Vec::new());
    for w in 0..WORKERS {
        let (owner, target) = (format!("crash-owner-{w}"), format!("w{w}-target"));
        let args = json!({"agent_type": "gpt_agent", "owner_id": owner, "agent_id": target});
        let registered = ok(&op, "register_agent", args).await;
        let ledger = Ledger {
            worker: w,
            owner,
            target,
            ..Ledger::default()
        };
        let ledger = Arc::new(Mutex::new(ledger));
        ledgers.push(ledger.clone());
        let mut worker = Worker {
            op: Follower::new(&token, published.clone()),
            target: Follower::new(registered["token"].as_str().unwrap(), published.clone()),
            ledger,
            rng: Rng::new(rng.next()),
            unsettled: Vec::new(),
        };
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                worker.iteration(i).await;
                i += 1;
            }
        }));
    }
    drop(op);

    let mut facts = 0;
    let (mut kills, mut clean, mut cut_short) = (0, 0, 0);
    let restarts = std::env::var("MAAS_CRASH_RESTARTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(RESTARTS);
    for generation in 1..=restarts {
        tokio::time::sleep(Duration::from_millis(rng.range(20, 200))).await;
        stats_beside(&dir).await;
        tokio::time::sleep(Duration::from_millis(rng.range(20, 200))).await;
        publish.send_replace(None);
        if generation % CLEAN != 0 {
            server.kill9().await;
            kills += 1;
        } else if rng.range(0, 2) == 0 {
            server.terminate(None).await;
            clean += 1;
        } else {
            // SIGKILL while it may still be syncing and saving its snapshot.
            let impatience = Duration::from_millis(rng.range(0, 30));
            server.terminate(Some(impatience)).await;
            cut_short += 1;
        }
        if rng.range(0, 4) == 0 {
            // Killed again while it opens the journal and restores its state.
            let after = Duration::from_millis(rng.range(0, 60));
            ServeProcess::start_and_kill(&dir, generation + 1000, after).await;
            kills += 1;
        }
        server = ServeProcess::start_with(&dir, generation, &setup()).await;
        // Checked before the clients may reach the new server, so it is quiet.
        let op = connect_http(&server.url, &token).await.unwrap();
        let seen = snapshot(&ledgers);
        facts += check(&op, &dir, &seen, false, &mut rng).await;
        forget_fresh(&ledgers, &seen);
        drop(op);
        publish.send_replace(Some((generation, server.url.clone())));
        if let Some(failed) = tasks.iter().position(|t| t.is_finished()) {
            tasks.swap_remove(failed).await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    // Everything, on the last server and once more after a last kill.
    let seen = snapshot(&ledgers);
    assert!(seen.iter().all(|l| l.inflight.is_none()));
    let op = connect_http(&server.url, &token).await.unwrap();
    facts += check(&op, &dir, &seen, true, &mut rng).await;
    drop(op);
    server.kill9().await;
    kills += 1;
    let server = ServeProcess::start_with(&dir, restarts + 1, &setup()).await;
    let op = connect_http(&server.url, &token).await.unwrap();
    facts += check(&op, &dir, &seen, true, &mut rng).await;
    drop(op);
    server.kill9().await;

    let sum = |f: fn(&Ledger) -> u64| seen.iter().map(f).sum::<u64>();
    let (acks, cut_off, landed) = (sum(|l| l.acks), sum(|l| l.cut_off), sum(|l| l.landed));
    let handoffs = sum(|l| l.handoffs.len() as u64);
    eprintln!(
        "crash: {kills} kills, {clean} clean stops, {cut_short} stops cut short by a kill, \
         {acks} acknowledged changes ({handoffs} handoffs), {cut_off} calls cut off ({landed} \
         had happened), {facts} facts checked, seed {seed}"
    );
    assert!(
        handoffs >= WORKERS as u64,
        "the clients made too little progress to mean anything"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
