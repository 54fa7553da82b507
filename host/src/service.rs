//! One core instance shared by many concurrent callers: a thread owns the runtime (the
//! wasmtime store is not shared across threads, and the sync WASI linker must not run on
//! an async worker) and serves jobs sent over a channel.
//!
//! Fair turns: each job comes in a lane (one per authenticated caller, see
//! [`CoreService::in_lane`]), and the thread takes one job from each waiting lane in
//! turn, in arrival order within a lane; a lane whose first job came while another
//! lane's job ran goes before that lane's next. A caller with many calls in flight, or
//! costly ones, waits behind its own; another caller's call waits for the one running.
//! A token's authentication, which costs microseconds, runs before any turn
//! ([`QUICK_LANE`]); the HTTP server asks it once and remembers the answer
//! (`mcp/http/verified.rs`) until [`CoreService::token_endings`] moves.
//!
//! Group commit: the thread runs the jobs waiting (up to [`MAX_BATCH`], for at most
//! [`BATCH_TIME`]), then makes all their changes durable with one sync, and only then
//! releases their answers. A job of a lane whose last job ran longer than that starts a
//! batch of its own, so quicker jobs' answers do not wait for it. Concurrent writers share
//! a sync instead of queueing one each, and no answer, not even a read's, shows a change
//! before it is durable. A second thread delivers a synced batch's answers (waking each
//! caller is a system call, 64 of them per batch under 64 writers), in batch order, while
//! the core thread goes on with the next jobs.

use crate::bindings::types;
use crate::runtime::Runtime;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Most jobs answered per sync: bounds how long the first caller of a batch waits.
pub const MAX_BATCH: usize = 256;

/// No job starts in a batch whose jobs have run this long: the answers of a batch wait
/// for all of its jobs, so this bounds what one caller's costly calls add to another's
/// answer (the batch then syncs and the next takes the lanes in turn again).
pub const BATCH_TIME: Duration = Duration::from_millis(5);

/// Delivers a job's answer, or the error that replaces it when the sync failed.
type Reply = Box<dyn FnOnce(Option<&types::Error>) + Send>;
type Job = Box<dyn FnOnce(&mut Runtime) -> Reply + Send>;
/// A job and its lane.
type Queued = (Lane, Job);

/// Most places remembered as slow; past it they are forgotten (and learnt again).
const MAX_SLOW_LANES: usize = 4096;

/// The lane of calls that cost microseconds whoever makes them (a token's
/// authentication, which every request of a caller starts with): its jobs run before
/// any other lane's turn, so a request waits for its turn once, not twice.
pub const QUICK_LANE: u64 = u64::MAX;

/// Where the quick lane's jobs are queued.
const QUICK: Lane = Lane {
    lane: QUICK_LANE,
    place: 0,
};

/// Keys taking turns: one item of each waiting key in turn, in arrival order within a
/// key; a key whose first item came while another key's was out goes before that key's
/// next.
struct Turns<K, Q> {
    waiting: std::collections::HashMap<K, Q>,
    order: std::collections::VecDeque<K>,
    /// The key whose item went out last, with more waiting: it takes its next turn
    /// behind the keys whose first item came meanwhile, not ahead of them.
    ran: Option<K>,
}

impl<K, Q> Default for Turns<K, Q> {
    fn default() -> Self {
        Turns {
            waiting: Default::default(),
            order: Default::default(),
            ran: None,
        }
    }
}

/// What waits in one key's place: its jobs in order, or keys taking turns in it.
trait Queue<T>: Default {
    fn put(&mut self, item: T);
    fn take(&mut self) -> Option<T>;
    fn is_empty(&self) -> bool;
}

impl<T> Queue<T> for std::collections::VecDeque<T> {
    fn put(&mut self, item: T) {
        self.push_back(item);
    }
    fn take(&mut self) -> Option<T> {
        self.pop_front()
    }
    fn is_empty(&self) -> bool {
        std::collections::VecDeque::is_empty(self)
    }
}

impl<K: Copy + Eq + std::hash::Hash, T, Q: Queue<T>> Queue<(K, T)> for Turns<K, Q> {
    fn put(&mut self, (key, item): (K, T)) {
        let queue = self.waiting.entry(key).or_default();
        if queue.is_empty() {
            self.order.push_back(key);
        }
        queue.put(item);
    }

    fn take(&mut self) -> Option<(K, T)> {
        if let Some(key) = self.ran.take() {
            self.order.push_back(key);
        }
        let key = self.order.pop_front()?;
        let queue = self.waiting.get_mut(&key)?;
        let item = queue.take();
        if queue.is_empty() {
            self.waiting.remove(&key);
        } else {
            self.ran = Some(key);
        }
        item.map(|item| (key, item))
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty() && self.ran.is_none()
    }
}

impl<K: Copy, Q> Turns<K, Q> {
    /// The key whose turn is next.
    fn next(&self) -> Option<K> {
        self.order.front().or(self.ran.as_ref()).copied()
    }
}

/// Where a job takes its turn: its lane (an owner's, the operator's, the host's) and,
/// within the lane, its place (an agent's token): lanes take turns, and within a lane
/// its places do, so an owner's busy agent holds another owner back by one job and its
/// owner's other agents by one job too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lane {
    /// Turns between lanes.
    pub lane: u64,
    /// Turns within the lane.
    pub place: u64,
}

/// The jobs waiting, by lane and place, and the lanes in the order of their next turn.
struct Lanes<T = Job> {
    quick: std::collections::VecDeque<T>,
    turns: Turns<u64, Turns<u64, std::collections::VecDeque<T>>>,
    /// The places whose last job ran longer than [`BATCH_TIME`]: their next job starts a
    /// batch of its own, so the answers of quicker jobs (of their lane's other places
    /// too) do not wait for it.
    slow: std::collections::HashSet<Lane>,
}

impl<T> Default for Lanes<T> {
    fn default() -> Self {
        Lanes {
            quick: Default::default(),
            turns: Default::default(),
            slow: Default::default(),
        }
    }
}

impl<T> Lanes<T> {
    fn push(&mut self, (at, job): (Lane, T)) {
        if at.lane == QUICK_LANE {
            self.quick.push_back(job);
            return;
        }
        self.turns.put((at.lane, (at.place, job)));
    }

    /// Everything sent and not yet taken.
    fn take_sent(&mut self, rx: &mpsc::Receiver<(Lane, T)>) {
        while let Ok(queued) = rx.try_recv() {
            self.push(queued);
        }
    }

    /// The next job and its lane: the quick lane's, else the next turn's. (Call
    /// [`Lanes::take_sent`] first, so the lanes whose first job came meanwhile are in
    /// line.)
    fn next_in_lane(&mut self) -> Option<(Lane, T)> {
        if let Some(job) = self.quick.pop_front() {
            return Some((QUICK, job));
        }
        self.turns
            .take()
            .map(|(lane, (place, job))| (Lane { lane, place }, job))
    }

    /// Whether the next job is of a place whose last job was slow.
    fn next_is_slow(&self) -> bool {
        if !self.quick.is_empty() {
            return false;
        }
        let next = self.turns.next().and_then(|lane| {
            let place = self.turns.waiting.get(&lane)?.next()?;
            Some(Lane { lane, place })
        });
        next.is_some_and(|at| self.slow.contains(&at))
    }

    /// Notes how long a job at `at` ran.
    fn ran_for(&mut self, at: Lane, took: Duration) {
        if took > BATCH_TIME {
            if self.slow.len() >= MAX_SLOW_LANES {
                self.slow.clear();
            }
            self.slow.insert(at);
        } else {
            self.slow.remove(&at);
        }
    }

    fn is_empty(&self) -> bool {
        self.quick.is_empty() && self.turns.is_empty()
    }
}

/// How often the journal's head is read while someone waits for changes, to notice what
/// other processes on the same journal append.
pub const HEAD_POLL: Duration = Duration::from_millis(100);

/// The least time between two reads of the journal's head that notifications ask for.
const POKE_SPACING: Duration = Duration::from_millis(25);

/// A check run on the core thread before each job of a [`CoreService::checked`] handle.
pub type Check = Arc<dyn Fn(&mut Runtime) -> Result<(), types::Error> + Send + Sync>;

/// A handle to the core thread; cheap to clone.
#[derive(Clone)]
pub struct CoreService {
    jobs: mpsc::Sender<Queued>,
    heads: Arc<watch::Sender<u64>>,
    /// Run first in each job sent through this handle; its error answers the job.
    check: Option<Check>,
    /// Where the jobs sent through this handle take their turns (lane 0: the host's own
    /// and callers without a token).
    lane: Lane,
    /// The digest of the token whose check the jobs run first (see
    /// [`CoreService::reader_key`]).
    reader: Option<[u8; 32]>,
    /// The runtime's count of calls that ended a token ([`Runtime::note_token_ended`]).
    token_endings: Arc<std::sync::atomic::AtomicU64>,
    /// Another process said the journal moved ([`CoreService::head_moved`]): the core
    /// thread reads the journal's head after its next batch.
    poked: Arc<AtomicBool>,
}

/// The journal head as the core thread last saw it, for those who wait for changes.
struct Heads {
    tx: Arc<watch::Sender<u64>>,
    polled: Instant,
    /// The runtime's count of rewrites found under it ([`Runtime::rewrites`]) when the
    /// head was last published.
    rewrites: u64,
    /// Shared with [`CoreService::poked`].
    poked: Arc<AtomicBool>,
}

impl Heads {
    /// True while someone waits.
    fn watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Tells the waiters when the head moved, and every one of them when the core
    /// started again over a journal rewritten under it: the head may be behind the one
    /// they saw, and what they read next shows the journal as it is now.
    fn publish(&mut self, rt: &Runtime, head: u64) {
        if rt.rewrites() != self.rewrites {
            self.rewrites = rt.rewrites();
            self.tx.send_replace(head);
        } else {
            advance(&self.tx, head);
        }
    }

    /// What this core appended, and what the journal holds when another process said
    /// it moved, or while someone waits at most every [`HEAD_POLL`] (another process may
    /// have appended).
    fn after_batch(&mut self, rt: &mut Runtime) {
        self.publish(rt, rt.appended());
        // A poke is read at most every POKE_SPACING: any role that can connect to a
        // PostgreSQL journal can send notifications by the thousand, each one a journal
        // read on every host; one left unread now is read at the next poll.
        let poked = self.poked.load(Ordering::Acquire) && self.polled.elapsed() >= POKE_SPACING;
        if poked || (self.watched() && self.polled.elapsed() >= HEAD_POLL) {
            self.poll(rt);
        }
    }

    /// Reads the journal's head; a rewrite under the core (entries set aside by another
    /// process) starts the core again here, with no call needed. A head below the one
    /// published is published too: the journal holds nothing past it (entries removed
    /// by hand, say), and a head it does not hold must not stay up, or the waiters would
    /// sleep through every entry up to it.
    fn poll(&mut self, rt: &mut Runtime) {
        self.poked.store(false, Ordering::Release);
        self.polled = Instant::now();
        if let Some(head) = rt.follow_head() {
            if head < *self.tx.borrow() && rt.rewrites() == self.rewrites {
                self.tx.send_replace(head);
            } else {
                self.publish(rt, head);
            }
        }
    }
}

/// Moves the published head forward to `head` (never back), waking the waiters only
/// when it moved.
fn advance(tx: &watch::Sender<u64>, head: u64) {
    tx.send_if_modified(|h| {
        let moved = head > *h;
        *h = (*h).max(head);
        moved
    });
}

fn stopped() -> types::Error {
    types::Error::Unavailable("the core thread has stopped".into())
}

/// The next job; while read-audit entries are buffered, waits only until they are due
/// and writes them then (so a server left idle holds none for long). `None`: every
/// handle was dropped.
/// While someone waits for changes, the journal's head is also read every [`HEAD_POLL`].
fn next_job(rt: &mut Runtime, rx: &mpsc::Receiver<Queued>, heads: &mut Heads) -> Option<Queued> {
    let mut flush_failed = false;
    loop {
        let due = rt.reads_due_in().filter(|_| !flush_failed);
        let poll = heads.watched().then_some(HEAD_POLL);
        let wait = match (due, poll) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return rx.recv().ok(),
        };
        match rx.recv_timeout(wait) {
            Ok(job) => return Some(job),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if due.is_some_and(|d| d <= wait)
                    && let Err(e) = rt.flush_reads()
                {
                    eprintln!("maas: cannot write the read-audit log: {}", e.reason());
                    flush_failed = true;
                }
                if heads.watched() {
                    heads.poll(rt);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// A synced batch's answers, each with whether its call appended to the journal, and,
/// when the sync failed, why (the error that replaces them is made from it).
type Batch = (Vec<(Reply, bool)>, Option<String>);

/// Delivers every answer of `batch`.
fn deliver((replies, failed): Batch) {
    for (reply, wrote) in replies {
        let error = failed
            .as_ref()
            .map(|why| crate::runtime::sync_failed(why, wrote));
        reply(error.as_ref());
    }
}

/// Starts the thread that delivers synced batches' answers in the order they are sent;
/// `None` if it cannot start (the core thread then delivers them itself).
fn spawn_replier() -> Option<mpsc::Sender<Batch>> {
    let (tx, rx) = mpsc::channel::<Batch>();
    std::thread::Builder::new()
        .name("maas-replies".into())
        .spawn(move || rx.into_iter().for_each(deliver))
        .ok()?;
    Some(tx)
}

/// Runs jobs until every handle is dropped.
fn serve(rt: &mut Runtime, rx: &mpsc::Receiver<Queued>, heads: &mut Heads) {
    let replier = spawn_replier();
    let mut lanes = Lanes::default();
    loop {
        lanes.take_sent(rx);
        if lanes.is_empty() {
            match next_job(rt, rx, heads) {
                Some(queued) => lanes.push(queued),
                None => break,
            }
        }
        let started = Instant::now();
        let appended = rt.appended();
        let mut replies = Vec::new();
        // Whether the batch holds a job that took a lane's turn (not only authentication).
        let mut turned = false;
        while replies.len() < MAX_BATCH && started.elapsed() < BATCH_TIME {
            // What came while the last job ran takes its turn among the lanes.
            lanes.take_sent(rx);
            // A slow lane's job waits for the next batch when answers of other turns
            // would wait for it; authentications alone do not hold it back (they come
            // first in every batch, so a steady stream of them would hold it forever).
            if turned && lanes.next_is_slow() {
                break;
            }
            let Some((lane, job)) = lanes.next_in_lane() else {
                break;
            };
            turned |= lane.lane != QUICK_LANE;
            let began = Instant::now();
            let before = rt.appended();
            let reply = job(rt);
            replies.push((reply, rt.appended() != before));
            lanes.ran_for(lane, began.elapsed());
        }
        let failed = rt.sync_journal().err().map(|e| {
            // What failed to sync may be another writer's change the batch read, or
            // read-audit rows: then nothing was written, the state is the journal's, and
            // no answer goes before what it may show is durable. Otherwise what the batch
            // changed may or may not be on disk: the core is rebuilt from what the journal
            // holds. Either way a call that wrote nothing is told that it changed nothing.
            if rt.appended() != appended {
                let _ = rt.restart();
            }
            e.reason()
        });
        if failed.is_none() {
            heads.after_batch(rt);
        }
        match &replier {
            Some(tx) => {
                if let Err(mpsc::SendError(batch)) = tx.send((replies, failed)) {
                    deliver(batch);
                }
            }
            None => deliver((replies, failed)),
        }
    }
}

/// `f`, after `check`.
fn after<T>(
    check: Option<Check>,
    f: impl FnOnce(&mut Runtime) -> Result<T, types::Error>,
) -> impl FnOnce(&mut Runtime) -> Result<T, types::Error> {
    move |rt| {
        if let Some(check) = check {
            check(rt)?;
        }
        f(rt)
    }
}

fn reply_with<T: Send + 'static>(
    answer: Result<T, types::Error>,
    deliver: impl FnOnce(Result<T, types::Error>) + Send + 'static,
) -> Reply {
    Box::new(move |failed| match failed {
        Some(e) => deliver(Err(e.clone())),
        None => deliver(answer),
    })
}

impl CoreService {
    /// Starts the core thread; `make` builds the runtime on that thread.
    pub fn spawn(
        make: impl FnOnce() -> Result<Runtime, types::Error> + Send + 'static,
    ) -> Result<Self, types::Error> {
        let (jobs, rx) = mpsc::channel::<Queued>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let heads = Arc::new(watch::Sender::new(0));
        let poked = Arc::new(AtomicBool::new(false));
        let mut thread_heads = Heads {
            tx: heads.clone(),
            polled: Instant::now(),
            rewrites: 0,
            poked: poked.clone(),
        };
        std::thread::Builder::new()
            .name("maas-core".into())
            .spawn(move || {
                let mut rt = match make() {
                    Ok(rt) => {
                        let _ = ready_tx.send(Ok(rt.token_endings()));
                        rt
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let head = rt.journal_head().unwrap_or(0);
                thread_heads.publish(&rt, head);
                serve(&mut rt, &rx, &mut thread_heads);
            })
            .map_err(|e| types::Error::Unavailable(format!("cannot start the core thread: {e}")))?;
        let token_endings = ready_rx.recv().map_err(|_| stopped())??;
        Ok(CoreService {
            jobs,
            heads,
            check: None,
            lane: Lane::default(),
            reader: None,
            token_endings,
            poked,
        })
    }

    /// A handle to no core thread (every call answers that the core stopped), for tests
    /// of what sits beside the core.
    #[cfg(test)]
    pub fn detached_for_tests() -> Self {
        Self::detached_with_heads_for_tests().0
    }

    /// [`CoreService::detached_for_tests`], with the head its waiters follow, to move.
    #[cfg(test)]
    pub fn detached_with_heads_for_tests() -> (Self, Arc<watch::Sender<u64>>) {
        let (jobs, _) = mpsc::channel::<Queued>();
        let heads = Arc::new(watch::Sender::new(0));
        let core = CoreService {
            jobs,
            heads: heads.clone(),
            check: None,
            lane: Lane::default(),
            reader: None,
            token_endings: Arc::default(),
            poked: Arc::default(),
        };
        (core, heads)
    }

    /// The handle, its jobs checked with the token of `digest` (set beside
    /// [`CoreService::checked`] by the check's maker).
    pub fn reading_as(&self, digest: [u8; 32]) -> Self {
        CoreService {
            reader: Some(digest),
            ..self.clone()
        }
    }

    /// The lane of the jobs sent through this handle.
    pub fn lane(&self) -> u64 {
        self.lane.lane
    }

    /// Which core and whose token: handles with the same key read as the same reader
    /// (`mcp/shared_reads.rs`).
    pub fn reader_key(&self) -> String {
        let core = Arc::as_ptr(&self.heads) as usize;
        match &self.reader {
            Some(d) => format!("{core:x}/{}", maas_core::audit::hex(d)),
            None => format!("{core:x}/-"),
        }
    }

    /// How many calls of this core ended a token so far (rotated it, deactivated or
    /// unregistered its agent, or found it ended by another process): what was learnt
    /// about tokens before the count last moved is to be asked again.
    pub fn token_endings(&self) -> u64 {
        self.token_endings
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// A handle whose jobs take their turns in `lane`: one job of each waiting lane runs
    /// in turn, so a caller in a lane of its own cannot hold back another's calls with
    /// many or costly ones. Lane 0 is the default's.
    pub fn in_lane(&self, lane: u64) -> Self {
        self.at(Lane { lane, place: 0 })
    }

    /// A handle whose jobs take their turns at `at`: in its lane, and there in turn with
    /// the lane's other places.
    pub fn at(&self, at: Lane) -> Self {
        CoreService {
            lane: at,
            ..self.clone()
        }
    }

    /// A handle whose jobs first run `check` on the core thread, in the same job as the
    /// call: nothing another job does (a token rotated) can come between the two, and a
    /// failed check answers the job without running it.
    pub fn checked(&self, check: Check) -> Self {
        CoreService {
            check: Some(check),
            ..self.clone()
        }
    }

    /// Another process says the journal moved, to `hint` (another host's notification:
    /// anyone who can connect to the database can send one, so the hint is never
    /// published). While anyone waits, and unless the head published already reaches
    /// `hint`, the core thread reads the journal's head after its next batch (coming at
    /// once when it is idle) and publishes that: what the head says is always what the
    /// journal held.
    pub fn head_moved(&self, hint: u64) {
        if self.heads.receiver_count() == 0 || hint <= *self.heads.borrow() {
            return;
        }
        if !self.poked.swap(true, Ordering::AcqRel) {
            // An empty job, so an idle core thread ends its wait and reads the head.
            let wake: Job = Box::new(|_| Box::new(|_| {}));
            let _ = self.jobs.send((QUICK, wake));
        }
    }

    /// Follows the journal's head: changes when this core appends, and within
    /// [`HEAD_POLL`] of another process appending while anyone follows. When another
    /// process sets aside entries the core had applied, the core starts again and the
    /// head changes (perhaps back) all the same: read again from where you were.
    pub fn heads(&self) -> watch::Receiver<u64> {
        self.heads.subscribe()
    }

    /// Sends `f` to the core thread in this handle's lane, after this handle's check;
    /// `deliver` gets its answer once the batch that ran it is synced.
    fn send<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Runtime) -> Result<T, types::Error> + Send + 'static,
        deliver: impl FnOnce(Result<T, types::Error>) + Send + 'static,
    ) -> Result<(), types::Error> {
        let f = after(self.check.clone(), f);
        self.jobs
            .send((self.lane, Box::new(move |rt| reply_with(f(rt), deliver))))
            .map_err(|_| stopped())
    }

    /// Runs `f` on the core thread and waits for its answer without blocking the caller's
    /// async worker.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Runtime) -> Result<T, types::Error> + Send + 'static,
    ) -> Result<T, types::Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(f, move |answer| {
            let _ = tx.send(answer);
        })?;
        rx.await.map_err(|_| stopped())?
    }

    /// Runs `f` on the core thread and blocks until it answers.
    pub fn call_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Runtime) -> Result<T, types::Error> + Send + 'static,
    ) -> Result<T, types::Error> {
        let (tx, rx) = mpsc::channel();
        self.send(f, move |answer| {
            let _ = tx.send(answer);
        })?;
        rx.recv().map_err(|_| stopped())?
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{BATCH_TIME, Lane, Lanes, QUICK_LANE};
    use std::time::Duration;

    /// Lane `lane`, at its place 0.
    fn at(lane: u64) -> Lane {
        Lane { lane, place: 0 }
    }

    /// The order `lanes` gives its jobs, with `arrive(i)` pushed after the `i`th is taken.
    fn order(
        lanes: &mut Lanes<&'static str>,
        arrive: &[(usize, Lane, &'static str)],
    ) -> Vec<&'static str> {
        let mut out = Vec::new();
        loop {
            for (_, lane, job) in arrive.iter().filter(|(at, ..)| *at == out.len()) {
                lanes.push((*lane, *job));
            }
            match lanes.next_in_lane().map(|(_, job)| job) {
                Some(job) => out.push(job),
                None if arrive.iter().any(|(at, ..)| *at > out.len()) => continue,
                None => return out,
            }
        }
    }

    #[test]
    fn lanes_take_turns_and_a_newcomer_goes_before_the_lane_that_just_ran() {
        let mut lanes = Lanes::default();
        for job in ["a1", "a2", "a3", "a4"] {
            lanes.push((at(7), job));
        }
        // b's first job comes while a1 runs: it runs next, then a and b in turn; c's
        // comes while a2 runs: it goes after b, which was waiting, and before a; the
        // quick lane goes first whenever it has a job.
        let got = order(
            &mut lanes,
            &[
                (1, at(9), "b1"),
                (1, at(9), "b2"),
                (3, at(11), "c1"),
                (4, at(QUICK_LANE), "q1"),
            ],
        );
        assert_eq!(got, ["a1", "b1", "a2", "b2", "q1", "c1", "a3", "a4"]);
        assert!(lanes.is_empty());
    }

    #[test]
    fn a_lane_whose_last_job_was_slow_is_known_until_one_is_quick() {
        let mut lanes = Lanes::default();
        lanes.push((at(7), "a1"));
        lanes.push((at(7), "a2"));
        lanes.push((at(9), "b1"));
        assert!(!lanes.next_is_slow());
        let (lane, _) = lanes.next_in_lane().unwrap();
        lanes.ran_for(lane, BATCH_TIME * 4);
        // b is next, and quick; then a, slow, would start a batch of its own.
        assert!(!lanes.next_is_slow());
        let (lane, job) = lanes.next_in_lane().unwrap();
        assert_eq!((lane, job), (at(9), "b1"));
        lanes.ran_for(lane, Duration::from_micros(50));
        assert!(lanes.next_is_slow());
        lanes.push((at(QUICK_LANE), "q"));
        assert!(!lanes.next_is_slow(), "the quick lane goes first");
        assert_eq!(lanes.next_in_lane().unwrap().1, "q");
        let (lane, _) = lanes.next_in_lane().unwrap();
        lanes.ran_for(lane, Duration::from_micros(50));
        lanes.push((at(7), "a3"));
        assert!(!lanes.next_is_slow());
    }

    /// An owner's agents share a lane: with one agent's many jobs waiting (a pipeline's
    /// reads), its other agent's job waited behind all of them (FIFO within the lane);
    /// now the lane's places take turns, and lanes still take turns among themselves.
    #[test]
    fn places_in_a_lane_take_turns_and_the_lane_still_takes_one_turn() {
        let mut lanes = Lanes::default();
        let busy = Lane { lane: 7, place: 1 };
        let quiet = Lane { lane: 7, place: 2 };
        for job in ["p1", "p2", "p3", "p4"] {
            lanes.push((busy, job));
        }
        let got = order(
            &mut lanes,
            &[
                (1, quiet, "q1"),
                (1, at(9), "o1"),
                (1, at(9), "o2"),
                (3, quiet, "q2"),
            ],
        );
        // Lane 7 and lane 9 alternate; within lane 7, p and q alternate.
        assert_eq!(got, ["p1", "o1", "q1", "o2", "p2", "q2", "p3", "p4"]);
        assert!(lanes.is_empty());
    }

    /// A slow place starts a batch of its own; its lane's other places do not, so their
    /// answers do not wait for its next job (they did when the lane was judged whole:
    /// an owner's quick agent beside its busy one waited for two of the busy one's jobs).
    #[test]
    fn a_slow_place_does_not_make_its_lanes_other_places_slow() {
        let mut lanes = Lanes::default();
        let busy = Lane { lane: 7, place: 1 };
        let quiet = Lane { lane: 7, place: 2 };
        lanes.push((busy, "p1"));
        lanes.push((busy, "p2"));
        lanes.push((quiet, "q1"));
        let (at, _) = lanes.next_in_lane().unwrap();
        lanes.ran_for(at, BATCH_TIME * 4);
        assert!(!lanes.next_is_slow(), "q1 is next, and quick");
        let (at, job) = lanes.next_in_lane().unwrap();
        assert_eq!((at, job), (quiet, "q1"));
        lanes.ran_for(at, Duration::from_micros(50));
        assert!(lanes.next_is_slow(), "p2 is next, and its place was slow");
    }
}
