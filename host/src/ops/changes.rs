//! The change feed: what changed since a cursor, and a bounded wait for the next change.

use super::{Effect, Op, Slot};
use crate::bindings::{changes, types};
use crate::render::{or_dash, rfc3339, table};
use crate::runtime::Runtime;
use crate::service::CoreService;
use clap::Args;
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The longest wait a caller may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// The wait when none is asked for.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(25);

/// Read what changed since a cursor that the acting agent may see, oldest first: handoffs
/// it sent or received (every status change), memories shared into pools it reads
/// (updates, unshares, deletions), membership of its pools, knowledge ingested or removed. Each
/// change names its kind, object id, time, actor and a one-line summary; fetch the
/// object by its id. Without `after`, returns no changes and the cursor of the current
/// head to follow from. Pass `next_cursor` back as `after` to continue.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct GetChanges {
    /// The agent whose changes to read (default: the token's agent; the operator may
    /// leave it out to read every change).
    #[arg(long = "agent")]
    pub agent_id: Option<String>,
    /// Resume after this cursor (a `next_cursor`, `head` or a change's `cursor`).
    #[arg(long)]
    pub after: Option<String>,
    /// Only these kinds (`handoff.accepted`) or families (`handoff`, `memory`, `pool`,
    /// `knowledge`), at most 16.
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Option<Vec<String>>,
    /// Only changes about this pool.
    #[arg(long = "pool")]
    pub pool_id: Option<String>,
    /// At most this many changes (1..=500, default 100).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
}

impl GetChanges {
    fn get(
        &self,
        rt: &mut Runtime,
        caller: &types::Caller,
    ) -> Result<changes::ChangePage, types::Error> {
        let filter = changes::ChangeFilter {
            kinds: self.kinds.clone().unwrap_or_default(),
            pool_id: self.pool_id.clone(),
        };
        rt.call(|c, s| {
            c.maas_core_changes().call_get(
                s,
                caller,
                self.agent_id.as_deref(),
                self.after.as_deref(),
                &filter,
                self.limit,
            )
        })
    }
}

/// A change page as JSON.
pub fn page_json(p: &changes::ChangePage) -> Value {
    json!({
        "changes": p.changes.iter().map(change_json).collect::<Vec<_>>(),
        "next_cursor": p.next_cursor,
        "has_more": p.has_more,
        "head": p.head,
    })
}

/// One change as JSON.
pub fn change_json(c: &changes::Change) -> Value {
    json!({
        "cursor": c.cursor,
        "kind": c.kind,
        "object_id": c.object_id,
        "pool_id": c.pool_id,
        "at": c.at,
        "actor": c.actor,
        "summary": c.summary,
    })
}

/// A change page as a table and the cursor to continue from.
fn page_text(p: &changes::ChangePage) -> String {
    let rows: Vec<Vec<String>> = p
        .changes
        .iter()
        .map(|c| {
            vec![
                c.cursor.clone(),
                rfc3339(c.at),
                c.kind.clone(),
                c.object_id.clone(),
                or_dash(c.actor.as_deref()),
                c.summary.clone(),
            ]
        })
        .collect();
    let mut out = table(
        &["cursor", "time", "kind", "object", "actor", "summary"],
        &rows,
    );
    out.push_str(&format!(
        "next: {}{}\n",
        p.next_cursor,
        if p.has_more { " (more to read)" } else { "" }
    ));
    out
}

impl Op for GetChanges {
    const TOOL: &'static str = "get_changes";
    const EFFECT: Effect = Effect::Read;
    type Out = changes::ChangePage;
    fn slot(&mut self) -> Slot<'_> {
        Slot::AgentOrOperator(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        self.get(rt, caller)
    }
    fn json(&self, page: &Self::Out) -> Value {
        page_json(page)
    }
    fn text(&self, page: &Self::Out) -> String {
        page_text(page)
    }
}

/// Wait until something changes that the acting agent may see, then answer as
/// `get_changes` does; an empty page at the timeout. Without `after`, waits for the
/// first change after the call. Waiting costs the server nothing while nothing changes.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, Args)]
#[serde(deny_unknown_fields)]
pub struct WaitForChanges {
    /// The agent whose changes to wait for (default: the token's agent; the operator
    /// may leave it out to wait for any change).
    #[arg(long = "agent")]
    pub agent_id: Option<String>,
    /// Wait for changes after this cursor (default: the head when the call arrives).
    #[arg(long)]
    pub after: Option<String>,
    /// Only these kinds (`handoff.accepted`) or families (`handoff`, `memory`, `pool`,
    /// `knowledge`), at most 16.
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Option<Vec<String>>,
    /// Only changes about this pool.
    #[arg(long = "pool")]
    pub pool_id: Option<String>,
    /// At most this many changes (1..=500, default 100).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Seconds to wait at most (1..=30, default 25).
    #[arg(long = "timeout", value_name = "SECONDS")]
    pub timeout_seconds: Option<u64>,
}

impl WaitForChanges {
    /// The read each round of the wait makes, from `after`.
    pub fn read(&self, after: Option<String>) -> GetChanges {
        GetChanges {
            agent_id: self.agent_id.clone(),
            after,
            kinds: self.kinds.clone(),
            pool_id: self.pool_id.clone(),
            limit: self.limit,
        }
    }

    /// How long to wait; an out-of-range timeout is refused.
    pub fn timeout(&self) -> Result<Duration, types::Error> {
        match self.timeout_seconds {
            None => Ok(DEFAULT_WAIT),
            Some(s) if (1..=MAX_WAIT.as_secs()).contains(&s) => Ok(Duration::from_secs(s)),
            Some(_) => Err(types::Error::InvalidInput(types::InvalidInfo {
                field: "timeout_seconds".into(),
                reason: format!("must be 1..={}", MAX_WAIT.as_secs()),
            })),
        }
    }
}

/// One round of a wait runs as this operation: the acting-agent rule and the read are
/// those of `get_changes`, audited under the wait's name.
impl Op for WaitForChanges {
    const TOOL: &'static str = "wait_for_changes";
    const EFFECT: Effect = Effect::Read;
    type Out = changes::ChangePage;
    fn slot(&mut self) -> Slot<'_> {
        Slot::AgentOrOperator(&mut self.agent_id)
    }
    fn call(&self, rt: &mut Runtime, caller: &types::Caller) -> Result<Self::Out, types::Error> {
        self.timeout()?;
        self.read(self.after.clone()).get(rt, caller)
    }
    fn json(&self, page: &Self::Out) -> Value {
        page_json(page)
    }
    fn text(&self, page: &Self::Out) -> String {
        page_text(page)
    }
}

/// Waits as `op` asks: reads once (the acting-agent rule applies there), and while the
/// page is empty waits for the journal's head to move, then reads again from where the
/// last read ended, until something comes or the timeout passes. Waiting holds no thread
/// and costs no CPU; each read is audited.
pub async fn wait(
    core: &CoreService,
    op: WaitForChanges,
    caller: types::Caller,
) -> Result<changes::ChangePage, types::Error> {
    let deadline = tokio::time::Instant::now() + op.timeout()?;
    // Following the head before the first read: nothing appended after it is missed.
    let mut heads = core.heads();
    heads.borrow_and_update();
    let c = caller.clone();
    let (op, mut page) = core
        .call(move |rt| {
            let mut op = op;
            super::invoke(&mut op, rt, &c).map(|page| (op, page))
        })
        .await?;
    loop {
        if !page.changes.is_empty() {
            return Ok(page);
        }
        if !page.has_more {
            tokio::select! {
                moved = heads.changed() => {
                    if moved.is_err() {
                        return Err(types::Error::Unavailable("the core thread has stopped".into()));
                    }
                    heads.borrow_and_update();
                }
                () = tokio::time::sleep_until(deadline) => return Ok(page),
            }
        } else if tokio::time::Instant::now() >= deadline {
            return Ok(page);
        }
        let read = op.read(Some(page.next_cursor.clone()));
        let c = caller.clone();
        page = core.call(move |rt| read.get(rt, &c)).await?;
    }
}
