//! Resource subscriptions: `resources/subscribe` per MCP session (an HTTP session or the
//! stdio connection) and `subscriptions/listen` (protocol 2026-07-28).
//!
//! While a session holds any subscription, one task follows the change feed as the
//! session's principal: it parks on the journal head ([`CoreService::heads`]), reads what
//! changed since its cursor when the head moves (`get_changes`, audited like any read),
//! maps each change to the resources it touches and sends
//! `notifications/resources/updated` for those subscribed. It ends with the session or
//! its last subscription.

use super::resources::{Uri, error, read_json, valid_id};
use super::shared_reads::{self, Step, Take};
use crate::bindings::{changes, types};
use crate::ops::{self, handoffs};
use crate::service::CoreService;
use rmcp::model::{ResourceUpdatedNotificationParam, SubscriptionFilter};
use rmcp::service::{SubscriptionContext, SubscriptionSendError, SubscriptionSink};
use rmcp::{ErrorData, Peer, RoleServer};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// How many streams carrying an HTTP session's notifications are open (its `GET`
/// stream, or one resumed), followed as they open and end. A session's follower reads
/// nothing while none is: what it would tell reaches no one (rmcp keeps a few of the
/// last notifications for a resumed stream), and a client gone without a `DELETE`
/// kept it reading the feed at every write until its session expired. When a stream
/// opens it reads on from where it stopped, so the client hears of what changed
/// meanwhile.
#[derive(Clone, Debug)]
pub struct Hearing(watch::Receiver<usize>);

impl Hearing {
    /// The count `rx` follows.
    pub fn new(rx: watch::Receiver<usize>) -> Self {
        Hearing(rx)
    }

    /// Until a stream is open (at once if one is); `false` if the session was closed.
    async fn heard(&mut self) -> bool {
        self.0.wait_for(|n| *n > 0).await.is_ok()
    }

    /// Until no stream is open (at once if none is): `true`; `false` once the session
    /// was closed.
    async fn unheard(&mut self) -> bool {
        self.0.wait_for(|n| *n == 0).await.is_ok()
    }

    fn is_heard(&self) -> bool {
        *self.0.borrow() > 0
    }
}

/// Most subscriptions one session holds.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// Changes read per round of the follower.
const PAGE: u32 = 500;

/// One session's subscriptions. Dropping the last handle (the session ended) stops its
/// follower.
#[derive(Default)]
pub struct Subscriptions {
    shared: Arc<Shared>,
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.shared.ended.cancel();
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Cancelled when the session ends.
    ended: CancellationToken,
}

#[derive(Default)]
struct State {
    /// Whose session this is, fixed by the first subscription.
    caller: Option<types::Caller>,
    /// Subscribed URIs, with, for pools, the memories shared in them as last read (so an
    /// update of one of them also touches the pool).
    uris: BTreeMap<Uri, BTreeSet<String>>,
    /// Stops the running follower, if there is one, with the follower's number.
    follower: Option<(u64, CancellationToken)>,
    /// Followers started so far.
    started: u64,
}

impl State {
    fn subscribed(&self, uri: &Uri) -> bool {
        self.uris.contains_key(uri)
    }

    /// Whether `caller` may add `uri` to this session's subscriptions.
    fn admit(&self, caller: &types::Caller, uri: &Uri) -> Result<(), ErrorData> {
        if self.caller.as_ref().is_some_and(|c| !same(c, caller)) {
            return Err(ErrorData::invalid_request(
                "this session's subscriptions belong to another principal",
                None,
            ));
        }
        if !self.subscribed(uri) && self.uris.len() >= MAX_SUBSCRIPTIONS {
            return Err(ErrorData::invalid_request(
                format!(
                    "too many subscriptions: a session holds at most {MAX_SUBSCRIPTIONS}; \
                     unsubscribe from some first"
                ),
                None,
            ));
        }
        Ok(())
    }
}

fn same(a: &types::Caller, b: &types::Caller) -> bool {
    match (a, b) {
        (types::Caller::Operator, types::Caller::Operator) => true,
        (types::Caller::Agent(a), types::Caller::Agent(b)) => a == b,
        _ => false,
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The memory ids of a pool resource's JSON.
fn shared_ids(body: &Value) -> BTreeSet<String> {
    body.get("memories")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|m| m.get("memory_id").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Subscriptions {
    /// `resources/subscribe`: reads the resource once as `caller` (so a caller that may
    /// not read it gets the operation's refusal), records it, and starts the follower
    /// if none runs.
    pub async fn subscribe(
        &self,
        core: &CoreService,
        caller: &types::Caller,
        peer: &Peer<RoleServer>,
        hearing: Option<&Hearing>,
        text: &str,
    ) -> Result<(), ErrorData> {
        let uri = Uri::parse(text)?;
        lock(&self.shared).admit(caller, &uri)?;
        // Follow the head from before the feed's cursor is read, and read the cursor
        // before the resource: nothing changed after the read is missed.
        let mut heads = core.heads();
        heads.borrow_and_update();
        let start = run_page(core, caller, Default::default())
            .await
            .map_err(|e| error(&e))?
            .next_cursor;
        let body = read_json(core, caller, &uri).await.map_err(|e| error(&e))?;
        let mut state = lock(&self.shared);
        // Again: another subscribe of the session may have taken the last place.
        state.admit(caller, &uri)?;
        state.caller = Some(caller.clone());
        let ids = match uri {
            Uri::Pool(_) => shared_ids(&body),
            _ => BTreeSet::new(),
        };
        state.uris.insert(uri, ids);
        // A running follower serves this URI too (it follows from no later than this
        // call's head); else one starts from the head this call read.
        if state.follower.is_none() {
            let stop = CancellationToken::new();
            state.started += 1;
            state.follower = Some((state.started, stop.clone()));
            let follower = Follower {
                core: core.clone(),
                caller: caller.clone(),
                shared: self.shared.clone(),
                peer: peer.clone(),
                sink: None,
                hearing: hearing.cloned(),
                number: state.started,
                stop,
            };
            tokio::spawn(follower.run(heads, start));
        }
        Ok(())
    }

    /// `resources/unsubscribe`: forgets the URI (a URI not subscribed is no error); the
    /// follower stops with the last one.
    pub fn unsubscribe(&self, text: &str) -> Result<(), ErrorData> {
        let uri = Uri::parse(text)?;
        let mut state = lock(&self.shared);
        state.uris.remove(&uri);
        if state.uris.is_empty()
            && let Some((_, stop)) = state.follower.take()
        {
            stop.cancel();
        }
        Ok(())
    }
}

/// What a `subscriptions/listen` request (protocol 2026-07-28) gets of what it asks:
/// the resource list's changes if asked, and the well-formed maas URIs among its
/// resources, at most [`MAX_SUBSCRIPTIONS`].
pub fn accepted(requested: &SubscriptionFilter) -> SubscriptionFilter {
    let mut uris: Vec<String> = Vec::new();
    for text in requested.resource_subscriptions.iter().flatten() {
        if uris.len() == MAX_SUBSCRIPTIONS {
            break;
        }
        if Uri::parse(text).is_ok() && !uris.contains(text) {
            uris.push(text.clone());
        }
    }
    let mut filter = SubscriptionFilter::new();
    filter.resources_list_changed = requested.resources_list_changed;
    filter.resource_subscriptions = (!uris.is_empty()).then_some(uris);
    filter
}

/// Serves one `subscriptions/listen` request as `caller` until it is cancelled: reads
/// each accepted resource once as the caller (a refusal ends the request with the
/// operation's error), then follows the feed as for `resources/subscribe`, notifying on
/// the listen stream.
pub async fn listen(
    core: &CoreService,
    caller: &types::Caller,
    context: SubscriptionContext,
) -> Result<(), ErrorData> {
    let mut heads = core.heads();
    heads.borrow_and_update();
    let start = run_page(core, caller, Default::default())
        .await
        .map_err(|e| error(&e))?;
    let shared = Arc::new(Shared::default());
    // What rmcp accepted keeps every copy of a URI the request repeated (99,000 copies of
    // one URI were 99,000 reads): each distinct URI is read once, at most
    // MAX_SUBSCRIPTIONS of them. A client gone meanwhile stops the reads.
    let distinct = accepted(context.accepted());
    let peer = &context.request_context().peer;
    let opening = async {
        for text in distinct.resource_subscriptions.iter().flatten() {
            if peer.is_transport_closed() {
                return Ok(false);
            }
            let uri = Uri::parse(text)?;
            let body = read_json(core, caller, &uri).await.map_err(|e| error(&e))?;
            let ids = match uri {
                Uri::Pool(_) => shared_ids(&body),
                _ => BTreeSet::new(),
            };
            lock(&shared).uris.insert(uri, ids);
        }
        Ok::<bool, ErrorData>(true)
    };
    let opened = tokio::select! {
        opened = opening => opened?,
        () = context.cancelled() => false,
    };
    if !opened {
        return Ok(());
    }
    let follower = Follower {
        core: core.clone(),
        caller: caller.clone(),
        shared: shared.clone(),
        peer: context.request_context().peer.clone(),
        sink: Some(context.sink().clone()),
        hearing: None,
        number: 0,
        stop: CancellationToken::new(),
    };
    let ended = tokio::select! {
        ended = follower.run(heads, start.next_cursor) => ended,
        () = context.cancelled() => None,
    };
    shared.ended.cancel();
    // A stream its principal may no longer read ends with the refusal, not quietly.
    ended.map_or(Ok(()), |e| Err(error(&e)))
}

/// A follower's read: a page, and the target of each handoff it names when an inbox is
/// subscribed.
type Read = (changes::ChangePage, BTreeMap<String, String>);

impl shared_reads::Page for Read {
    fn next_cursor(&self) -> &str {
        &self.0.next_cursor
    }
    fn has_more(&self) -> bool {
        self.0.has_more
    }
    fn shows(&self) -> bool {
        !self.0.changes.is_empty()
    }
}

/// One page of changes after `cursor` as `caller` and, with `wants_inbox`, the target of
/// each handoff it names (read as the caller), in one job on the core thread.
async fn read_page_alone(
    core: &CoreService,
    caller: &types::Caller,
    cursor: &str,
    wants_inbox: bool,
) -> Result<Read, types::Error> {
    let mut op = ops::changes::GetChanges {
        after: Some(cursor.to_string()),
        limit: Some(PAGE),
        ..Default::default()
    };
    let caller = caller.clone();
    core.call(move |rt| {
        let page = ops::invoke(&mut op, rt, &caller)?;
        let mut targets = BTreeMap::new();
        if wants_inbox {
            for change in page
                .changes
                .iter()
                .filter(|c| c.kind.starts_with("handoff."))
            {
                let mut get = handoffs::GetHandoff {
                    handoff_id: change.object_id.clone(),
                };
                // A handoff removed since is named by the change's summary.
                let target = ops::invoke(&mut get, rt, &caller)
                    .map(|h| h.target_agent_id)
                    .ok()
                    .or_else(|| target_in_summary(&change.summary));
                if let Some(target) = target {
                    targets.insert(change.object_id.clone(), target);
                }
            }
        }
        Ok((page, targets))
    })
    .await
}

async fn run_page(
    core: &CoreService,
    caller: &types::Caller,
    op: ops::changes::GetChanges,
) -> Result<changes::ChangePage, types::Error> {
    let caller = caller.clone();
    core.call(move |rt| {
        let mut op = op;
        ops::invoke(&mut op, rt, &caller)
    })
    .await
}

/// What one change touches.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Resources changed.
    pub uris: Vec<Uri>,
    /// A handoff whose target's inbox changed too (read to learn the target).
    pub handoff: Option<String>,
    /// The reader joined or left a pool, or a pool of it was deleted: its resource list
    /// changed.
    pub list_changed: bool,
}

/// The resources `change` touches, as `reader` (an agent id; `None`: the operator) sees
/// them.
pub fn touched(change: &changes::Change, reader: Option<&str>) -> Touched {
    let mut t = Touched::default();
    let family = change.kind.split('.').next().unwrap_or_default();
    match family {
        "handoff" => {
            t.uris.push(Uri::Handoff(change.object_id.clone()));
            t.handoff = Some(change.object_id.clone());
        }
        "memory" => {
            t.uris.push(Uri::Memory(change.object_id.clone()));
            if let Some(pool) = &change.pool_id {
                t.uris.push(Uri::Pool(pool.clone()));
            }
        }
        "pool" => {
            if let Some(pool) = &change.pool_id {
                t.uris.push(Uri::Pool(pool.clone()));
            }
            t.list_changed = reader.is_some()
                && match change.kind.as_str() {
                    "pool.joined" | "pool.left" => reader == Some(change.object_id.as_str()),
                    "pool.deleted" => true,
                    _ => false,
                };
        }
        _ => {}
    }
    t
}

/// The target named in a handoff change's summary (`… from a to b` or `… (a to b) verb`),
/// for a handoff that can no longer be read.
pub fn target_in_summary(summary: &str) -> Option<String> {
    let after = summary.rsplit_once(" to ")?.1;
    let id: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '-'))
        .collect();
    valid_id(&id).then_some(id)
}

/// Until `hearing` says no stream is open (`true`) or its session was closed
/// (`false`); never without one (stdio, a listen stream).
async fn unheard(hearing: Option<&mut Hearing>) -> bool {
    match hearing {
        Some(hearing) => hearing.unheard().await,
        None => std::future::pending().await,
    }
}

/// The task that follows the feed for one session.
struct Follower {
    core: CoreService,
    caller: types::Caller,
    shared: Arc<Shared>,
    peer: Peer<RoleServer>,
    /// The `subscriptions/listen` stream it serves (protocol 2026-07-28); `None`: the
    /// session's `resources/subscribe` subscriptions, notified on the session.
    sink: Option<SubscriptionSink>,
    /// Over HTTP, whether the session's notifications are heard: it waits while not.
    hearing: Option<Hearing>,
    /// Which follower of the session this is.
    number: u64,
    stop: CancellationToken,
}

impl Follower {
    /// Follows until stopped; the error that ended it, if one did (its principal may no
    /// longer read: its token revoked, its agent deactivated). Caught up, it waits for
    /// the steps of its token's tail (`shared_reads::tail`), not for every move of the
    /// head, and reads for itself only when a step does not start where it stands.
    async fn run(
        mut self,
        mut heads: tokio::sync::watch::Receiver<u64>,
        mut cursor: String,
    ) -> Option<types::Error> {
        let mut ended = None;
        // Started at the head it read; its tail, with whether it asks for inbox targets.
        let mut caught_up = true;
        let mut tail: Option<(bool, broadcast::Receiver<Arc<Step<Read>>>)> = None;
        loop {
            // Unheard, it leaves its tail (which then reads for no one of it) and waits;
            // heard again, it reads on from its cursor.
            if let Some(hearing) = &mut self.hearing
                && !hearing.is_heard()
            {
                tail = None;
                caught_up = false;
                tokio::select! {
                    heard = hearing.heard() => if !heard { break },
                    () = self.stop.cancelled() => break,
                    () = self.shared.ended.cancelled() => break,
                }
                continue;
            }
            let read = if caught_up {
                let wants = self.wants_inbox();
                let rx = match &mut tail {
                    Some((w, rx)) if *w == wants => rx,
                    _ => {
                        // Joined, it reads once more for itself: what the tail handed on
                        // before it joined is not handed to it.
                        tail = Some((wants, self.tail(wants, &cursor)));
                        caught_up = false;
                        continue;
                    }
                };
                tokio::select! {
                    step = rx.recv() => match step {
                        Ok(step) => match (&step.answer, step.take(&cursor)) {
                            (Err(e), _) => Err(e.clone()),
                            // An inbox subscribed since it joined: the page names no
                            // handoff's target, so it reads for itself.
                            (Ok(_), Take::Follows) if self.wants_inbox() != wants => {
                                caught_up = false;
                                Ok(cursor.clone())
                            }
                            (Ok((page, targets)), Take::Follows) => {
                                cursor = step.next().to_string();
                                let (uris, list_changed) =
                                    self.resources_of(&page.changes, targets);
                                step.in_turn(self.notify(uris, list_changed)).await;
                                Ok(cursor.clone())
                            }
                            (Ok(_), Take::Behind) => Ok(cursor.clone()),
                            (Ok(_), Take::Apart) => {
                                caught_up = false;
                                Ok(cursor.clone())
                            }
                        },
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            caught_up = false;
                            Ok(cursor.clone())
                        }
                        Err(broadcast::error::RecvError::Closed) => {
                            tail = None;
                            caught_up = false;
                            Ok(cursor.clone())
                        }
                    },
                    () = self.stop.cancelled() => break,
                    () = self.shared.ended.cancelled() => break,
                    open = unheard(self.hearing.as_mut()) => if open { continue } else { break },
                }
            } else {
                let head = *heads.borrow_and_update();
                let read = self.catch_up(&cursor, head).await;
                caught_up = read.is_ok();
                read
            };
            if self.peer.is_transport_closed() {
                break;
            }
            match read {
                Ok(next) => cursor = next,
                Err(types::Error::Expired(_)) => {
                    // Fell behind the feed's window: everything may have changed.
                    let all: Vec<Uri> = lock(&self.shared).uris.keys().cloned().collect();
                    if !self.notify(all, false).await {
                        break;
                    }
                    match run_page(&self.core, &self.caller, Default::default()).await {
                        Ok(page) => {
                            cursor = page.next_cursor;
                            caught_up = true;
                        }
                        Err(e) => eprintln!(
                            "maas: a resource subscription cannot read the change feed: {}",
                            e.message()
                        ),
                    }
                }
                // The core was busy or failed: tried again when the head next moves.
                Err(e @ (types::Error::Unavailable(_) | types::Error::RateLimited(_))) => {
                    eprintln!(
                        "maas: a resource subscription cannot read the change feed: {}",
                        e.message()
                    );
                    if !caught_up {
                        tokio::select! {
                            moved = heads.changed() => if moved.is_err() { break },
                            () = self.stop.cancelled() => break,
                            () = self.shared.ended.cancelled() => break,
                        }
                    }
                }
                // The principal may no longer read its feed (deactivated, unregistered):
                // nothing more will come.
                Err(e) => {
                    eprintln!(
                        "maas: a resource subscription stops following the change feed: {}",
                        e.message()
                    );
                    ended = Some(e);
                    break;
                }
            }
        }
        let mut state = lock(&self.shared);
        if state
            .follower
            .as_ref()
            .is_some_and(|(n, _)| *n == self.number)
        {
            state.follower = None;
        }
        ended
    }

    /// Whether an inbox is subscribed (the reads then name each handoff's target).
    fn wants_inbox(&self) -> bool {
        lock(&self.shared)
            .uris
            .keys()
            .any(|u| matches!(u, Uri::Inbox(_)))
    }

    /// The steps of the tail of this follower's token and question, joined at `cursor`.
    fn tail(&self, wants_inbox: bool, cursor: &str) -> broadcast::Receiver<Arc<Step<Read>>> {
        let question = format!("follow {:?} {wants_inbox}", self.caller);
        let (core, caller) = (self.core.clone(), self.caller.clone());
        shared_reads::tail(&self.core, &question, cursor, move |at| {
            let (core, caller) = (core.clone(), caller.clone());
            async move { read_page_alone(&core, &caller, &at, wants_inbox).await }
        })
    }

    /// Reads every change after `cursor` and notifies the subscribed resources they
    /// touch; returns where it stopped.
    async fn catch_up(&self, cursor: &str, head: u64) -> Result<String, types::Error> {
        let mut cursor = cursor.to_string();
        loop {
            let (page, targets) = self.read_page(&cursor, head).await?;
            cursor = page.next_cursor.clone();
            let (uris, list_changed) = self.resources_of(&page.changes, &targets);
            if !self.notify(uris, list_changed).await {
                return Ok(cursor);
            }
            if !page.has_more {
                return Ok(cursor);
            }
        }
    }

    /// One page of changes after `cursor` and, when an inbox is subscribed, the target
    /// of each handoff it names, shared with the followers of the same token asking the
    /// same since the head was at `head` (`shared_reads::read`).
    async fn read_page(&self, cursor: &str, head: u64) -> Result<Read, types::Error> {
        let wants_inbox = self.wants_inbox();
        let question = format!("follow {:?} {wants_inbox} {cursor}", self.caller);
        let reading = read_page_alone(&self.core, &self.caller, cursor, wants_inbox);
        shared_reads::read(&self.core, question, head, reading).await
    }

    /// The subscribed resources `changes` touch (`targets`: the target of each handoff
    /// named), and whether the resource list changed.
    fn resources_of(
        &self,
        changes: &[changes::Change],
        targets: &BTreeMap<String, String>,
    ) -> (Vec<Uri>, bool) {
        let reader = match &self.caller {
            types::Caller::Agent(id) => Some(id.as_str()),
            types::Caller::Operator => None,
        };
        let mut out = BTreeSet::new();
        let mut list_changed = false;
        let mut state = lock(&self.shared);
        for change in changes {
            let t = touched(change, reader);
            list_changed |= t.list_changed;
            // Keep the pools' memory lists current, for updates of their memories.
            if let (Some(pool), true) = (&change.pool_id, change.kind.starts_with("memory."))
                && let Some(ids) = state.uris.get_mut(&Uri::Pool(pool.clone()))
            {
                if change.kind == "memory.shared" {
                    ids.insert(change.object_id.clone());
                } else {
                    ids.remove(&change.object_id);
                }
            }
            if change.kind == "memory.updated" {
                out.extend(
                    state
                        .uris
                        .iter()
                        .filter(|(_, ids)| ids.contains(&change.object_id))
                        .map(|(u, _)| u.clone()),
                );
            }
            out.extend(t.uris);
            if let Some(target) = t.handoff.and_then(|id| targets.get(&id)) {
                out.insert(Uri::Inbox(target.clone()));
            }
        }
        let subscribed = out.into_iter().filter(|u| state.subscribed(u)).collect();
        (subscribed, list_changed)
    }

    /// Sends the notifications; false once the session cannot take them.
    async fn notify(&self, uris: Vec<Uri>, list_changed: bool) -> bool {
        if let Some(sink) = &self.sink {
            for uri in uris {
                if sink.notify_resource_updated(uri.to_string()).await.is_err() {
                    return false;
                }
            }
            if list_changed {
                match sink.notify_resource_list_changed().await {
                    // The listener did not ask for the list's changes.
                    Ok(()) | Err(SubscriptionSendError::NotificationNotAccepted(_)) => {}
                    Err(_) => return false,
                }
            }
            return true;
        }
        for uri in uris {
            let param = ResourceUpdatedNotificationParam::new(uri.to_string());
            if self.peer.notify_resource_updated(param).await.is_err() {
                return false;
            }
        }
        if list_changed && self.peer.notify_resource_list_changed().await.is_err() {
            return false;
        }
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn change(kind: &str, object: &str, pool: Option<&str>, summary: &str) -> changes::Change {
        changes::Change {
            cursor: "c1.0".into(),
            kind: kind.into(),
            object_id: object.into(),
            pool_id: pool.map(str::to_string),
            at: 0,
            actor: None,
            summary: summary.into(),
        }
    }

    #[test]
    fn changes_touch_their_resources() {
        let t = touched(
            &change("handoff.initiated", "h1", None, "handoff h1 from a to b"),
            Some("b"),
        );
        assert_eq!(t.uris, vec![Uri::Handoff("h1".into())]);
        assert_eq!(t.handoff.as_deref(), Some("h1"));
        let t = touched(&change("memory.shared", "m1", Some("p"), ""), Some("b"));
        assert_eq!(
            t.uris,
            vec![Uri::Memory("m1".into()), Uri::Pool("p".into())]
        );
        assert!(!t.list_changed);
        let t = touched(&change("pool.joined", "b", Some("p"), ""), Some("b"));
        assert_eq!(t.uris, vec![Uri::Pool("p".into())]);
        assert!(t.list_changed);
        let t = touched(&change("pool.joined", "c", Some("p"), ""), Some("b"));
        assert!(!t.list_changed, "another agent joined");
        let t = touched(&change("pool.deleted", "p", Some("p"), ""), None);
        assert!(!t.list_changed, "the operator lists nothing");
        let t = touched(&change("knowledge.ingested", "code/x", None, ""), Some("b"));
        assert_eq!(t, Touched::default());
    }

    #[test]
    fn the_summary_names_the_target() {
        assert_eq!(
            target_in_summary("handoff h1 from ann to bob").as_deref(),
            Some("bob")
        );
        assert_eq!(
            target_in_summary("handoff h1 (ann to bob) accepted").as_deref(),
            Some("bob")
        );
        assert_eq!(target_in_summary("handoff h1 expired"), None);
    }
}
