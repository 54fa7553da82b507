//! Feed reads shared by the streams and subscription followers that read the same
//! thing at the same time.
//!
//! Every follower (a `/v1/changes` stream, a session's subscriptions, a
//! `subscriptions/listen` stream) wakes when the journal head moves and reads what came
//! after its cursor. An agent may hold 64 of each and an owner 1,024, so one write made
//! as many reads on the core thread (2,048 of one owner's followers: 25 ms of the core a
//! write, whoever wrote; each read that showed a change also wrote an audit row). Those
//! of one token that stand at the same cursor ask the same question: the first asks the
//! core, the others take its answer. An answer serves a reader only if it was asked after
//! the head that reader is reading up to (so none misses a change), and for a second at
//! most.
//!
//! Followers that have caught up go further: they do not wake at each move of the head
//! at all. One [`tail`] a token and question follows the head and reads for them, and
//! hands on only the pages that show a change ([`Step`]); a follower takes a step that
//! starts where it stands, and reads for itself otherwise. So another owner's writes,
//! which a follower may not see, cost one read a token, not a wake-up a follower (with
//! 2,048 followers of one owner idle, tokio's wake-ups were most of a core).

use crate::bindings::types;
use crate::service::CoreService;
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, Semaphore, broadcast};

/// How long an answer is handed to readers of the same question.
const KEEP: Duration = Duration::from_secs(1);
/// Owners' turns kept before those no follower holds are dropped.
const PRUNE_AT: usize = 4_096;

type Answer = Result<Arc<dyn Any + Send + Sync>, types::Error>;

struct Flight {
    /// The head when it was asked: its answer covers the journal up to here at least.
    head: u64,
    asked: Instant,
    answer: Arc<OnceCell<Answer>>,
}

/// The questions asked, and how many are kept before the stale ones go.
struct Flights {
    asked: HashMap<String, Flight>,
    /// Questions kept before those older than [`KEEP`] are dropped: at first
    /// [`FLIGHTS_KEPT`], then twice as many as were fresh at the last drop, so an answer
    /// (a page of up to 500 changes) is not kept long past its second.
    prune_at: usize,
}

static FLIGHTS: LazyLock<Mutex<Flights>> = LazyLock::new(|| {
    Mutex::new(Flights {
        asked: HashMap::new(),
        prune_at: FLIGHTS_KEPT,
    })
});

/// The first [`Flights::prune_at`].
const FLIGHTS_KEPT: usize = 64;

/// The answer to `question` (what is read, of which kind: it names everything the
/// answer depends on but the reader) as `core`'s reader sees it, for a reader that saw
/// the head at `head`: taken from a read of the same question asked since, else read
/// with `read` and handed to those who ask next.
pub async fn read<T, F>(
    core: &CoreService,
    question: String,
    head: u64,
    read: F,
) -> Result<T, types::Error>
where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = Result<T, types::Error>>,
{
    let key = format!("{}\n{question}", core.reader_key());
    let answer = {
        let mut flights = FLIGHTS.lock().unwrap_or_else(|p| p.into_inner());
        match flights.asked.get(&key) {
            Some(f) if f.head >= head && f.asked.elapsed() < KEEP => f.answer.clone(),
            _ => {
                if flights.asked.len() >= flights.prune_at {
                    flights.asked.retain(|_, f| f.asked.elapsed() < KEEP);
                    flights.prune_at = (flights.asked.len() * 2).max(FLIGHTS_KEPT);
                }
                let answer = Arc::new(OnceCell::new());
                let flight = Flight {
                    head,
                    asked: Instant::now(),
                    answer: answer.clone(),
                };
                flights.asked.insert(key, flight);
                answer
            }
        }
    };
    // A reader that goes away while reading leaves the read to the next one waiting.
    let got = answer
        .get_or_init(|| async {
            read.await
                .map(|t| Arc::new(t) as Arc<dyn Any + Send + Sync>)
        })
        .await;
    match got {
        Ok(any) => any.downcast_ref::<T>().cloned().ok_or_else(|| {
            types::Error::Unavailable("a shared feed read answered another question".into())
        }),
        Err(e) => Err(e.clone()),
    }
}

/// What a [`tail`] needs to know of a page it read.
pub trait Page: Clone + Send + Sync + 'static {
    /// Where the next page starts.
    fn next_cursor(&self) -> &str;
    /// Whether the journal holds more after it.
    fn has_more(&self) -> bool;
    /// Whether it shows any change.
    fn shows(&self) -> bool;
}

/// A page a tail read that shows a change (or the error its read ended with), for the
/// followers that stand where it starts.
pub struct Step<T> {
    /// The end of the tail's last step: nothing between it and `from` was for the reader.
    mark: String,
    /// Where the page starts.
    from: String,
    /// Where it ends.
    next: String,
    /// The page, or the error of the read.
    pub answer: Result<T, types::Error>,
    /// Taken by each follower delivering a step of its owner's ([`Step::in_turn`]).
    turns: Arc<Semaphore>,
}

/// What a follower standing at a cursor does with a [`Step`].
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// The step is what follows the cursor: take its changes and stand at its end.
    Follows,
    /// The step ends at or before the cursor: nothing in it is new.
    Behind,
    /// The follower missed something (or the step started elsewhere): read for itself.
    Apart,
}

/// A cursor as a position: `c5.2` (after event 2 of entry 5) comes before `c5`.
fn position(cursor: &str) -> Option<(u64, u32)> {
    let rest = cursor.strip_prefix('c')?;
    match rest.split_once('.') {
        Some((seq, event)) => Some((seq.parse().ok()?, event.parse().ok()?)),
        None => Some((rest.parse().ok()?, u32::MAX)),
    }
}

impl<T> Step<T> {
    /// What a follower standing at `cursor` does with this step.
    pub fn take(&self, cursor: &str) -> Take {
        let at = |c: &str| position(c);
        match (at(&self.mark), at(cursor), at(&self.from), at(&self.next)) {
            (_, Some(c), _, Some(n)) if c >= n => Take::Behind,
            (Some(m), Some(c), Some(f), _) if m <= c && c <= f => Take::Follows,
            _ => Take::Apart,
        }
    }

    /// Where the step ends.
    pub fn next(&self) -> &str {
        &self.next
    }

    /// Runs `work` (a follower delivering this step) in its turn: the followers of one
    /// owner's agents deliver one at a time, so a change that 2,048 of them see does
    /// not put them all on the runtime's workers at once, ahead of every other owner's
    /// requests (mallory writing 16 times a second into a pool its 2,048 followers
    /// follow took acme's calls to 44 ms at the median, 146 at the 99th percentile). A
    /// follower whose work takes longer than [`TURN`] (its client slow to take what it
    /// is sent) lets the next one go.
    pub async fn in_turn<R>(&self, work: impl Future<Output = R>) -> R {
        let turn = self.turns.acquire().await.ok();
        tokio::pin!(work);
        tokio::select! {
            done = &mut work => done,
            () = tokio::time::sleep(TURN) => {
                drop(turn);
                work.await
            }
        }
    }

    fn new(
        mark: String,
        from: String,
        next: String,
        answer: Result<T, types::Error>,
        turns: Arc<Semaphore>,
    ) -> Self {
        Step {
            mark,
            from,
            next,
            answer,
            turns,
        }
    }
}

/// How long a follower delivering a step holds its turn at most.
const TURN: Duration = Duration::from_millis(50);

/// The turns of the followers of the calls of `lane` (an owner's agents': see
/// `Recheck::in_owners_lane`).
fn turns_of(lane: u64) -> Arc<Semaphore> {
    static TURNS: LazyLock<Mutex<HashMap<u64, std::sync::Weak<Semaphore>>>> =
        LazyLock::new(Mutex::default);
    let mut turns = TURNS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(t) = turns.get(&lane).and_then(std::sync::Weak::upgrade) {
        return t;
    }
    if turns.len() >= PRUNE_AT {
        turns.retain(|_, t| t.strong_count() > 0);
    }
    let t = Arc::new(Semaphore::new(1));
    turns.insert(lane, Arc::downgrade(&t));
    t
}

/// Steps a tail keeps for followers slow to take them; one further behind reads for
/// itself.
const STEPS_KEPT: usize = 64;

static TAILS: LazyLock<Mutex<HashMap<String, Box<dyn Any + Send>>>> = LazyLock::new(Mutex::default);

type Steps<T> = broadcast::Sender<Arc<Step<T>>>;

/// The steps of the tail that follows the head for `core`'s reader asking `question`
/// (with `read`, from a cursor): the running one, or one started at `at` (it reads from
/// there at once, then at each move of the head). It ends when the head moves with no
/// follower left, or with an error other than the core being busy or away.
pub fn tail<T, F, Fut>(
    core: &CoreService,
    question: &str,
    at: &str,
    read: F,
) -> broadcast::Receiver<Arc<Step<T>>>
where
    T: Page,
    F: Fn(String) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, types::Error>> + Send,
{
    let key = format!(
        "{}
{question}",
        core.reader_key()
    );
    let mut tails = TAILS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(steps) = tails.get(&key).and_then(|t| t.downcast_ref::<Steps<T>>()) {
        return steps.subscribe();
    }
    let (steps, rx) = broadcast::channel(STEPS_KEPT);
    tails.insert(key.clone(), Box::new(steps.clone()));
    let mut heads = core.heads();
    heads.borrow_and_update();
    let at = at.to_string();
    let turns = turns_of(core.lane());
    tokio::spawn(async move {
        follow(key.clone(), at, read, &steps, heads, &turns).await;
        forget(
            &mut TAILS.lock().unwrap_or_else(|p| p.into_inner()),
            &key,
            &steps,
        );
    });
    rx
}

/// Removes the tail of `key` from `tails` if it is still the one sending `steps`.
fn forget<T: Page>(tails: &mut HashMap<String, Box<dyn Any + Send>>, key: &str, steps: &Steps<T>) {
    if tails
        .get(key)
        .and_then(|t| t.downcast_ref::<Steps<T>>())
        .is_some_and(|s| s.same_channel(steps))
    {
        tails.remove(key);
    }
}

/// A tail's reads: from `at`, then at each move of the head, until it ends.
async fn follow<T, F, Fut>(
    key: String,
    at: String,
    read: F,
    steps: &Steps<T>,
    mut heads: tokio::sync::watch::Receiver<u64>,
    turns: &Arc<Semaphore>,
) where
    T: Page,
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, types::Error>>,
{
    let (mut mark, mut pos) = (at.clone(), at);
    loop {
        loop {
            let answer = read(pos.clone()).await;
            let from = pos.clone();
            match &answer {
                Ok(page) => {
                    pos = page.next_cursor().to_string();
                    let more = page.has_more();
                    if page.shows() {
                        let next = pos.clone();
                        let step = Step::new(mark, from, next.clone(), answer, turns.clone());
                        let _ = steps.send(Arc::new(step));
                        mark = next;
                    }
                    if !more {
                        break;
                    }
                }
                Err(e) => {
                    let busy = matches!(
                        e,
                        types::Error::Unavailable(_) | types::Error::RateLimited(_)
                    );
                    let next = pos.clone();
                    let step = Step::new(mark.clone(), from, next, answer, turns.clone());
                    let _ = steps.send(Arc::new(step));
                    if !busy {
                        return;
                    }
                    break;
                }
            }
        }
        if heads.changed().await.is_err() {
            return;
        }
        // With no follower left it ends, and leaves the map under the lock a follower
        // joins under: none joins a tail that has ended.
        let mut tails = TAILS.lock().unwrap_or_else(|p| p.into_inner());
        if steps.receiver_count() == 0 {
            forget(&mut tails, &key, steps);
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn asked(n: &AtomicUsize, v: u64) -> Result<u64, types::Error> {
        n.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        Ok(v)
    }

    #[test]
    fn a_follower_takes_a_step_that_starts_where_it_stands() {
        let step = |mark: &str, from: &str, next: &str| {
            Step::<()>::new(
                mark.into(),
                from.into(),
                next.into(),
                Ok(()),
                Arc::new(Semaphore::new(1)),
            )
        };
        // Nothing for the reader from c3 to c9; the page (c9, c12] shows a change.
        let s = step("c3", "c9", "c12");
        assert_eq!(s.take("c3"), Take::Follows);
        assert_eq!(s.take("c7"), Take::Follows);
        assert_eq!(s.take("c9"), Take::Follows);
        assert_eq!(s.take("c12"), Take::Behind);
        assert_eq!(s.take("c15"), Take::Behind);
        // Inside the page, or before what the tail vouches for: read for itself.
        assert_eq!(s.take("c10"), Take::Apart);
        assert_eq!(s.take("c2"), Take::Apart);
        assert_eq!(
            s.take("c3.1"),
            Take::Apart,
            "c3.1 is before the end of entry 3"
        );
        assert_eq!(step("c3.1", "c3.1", "c4").take("c3.1"), Take::Follows);
        assert_eq!(s.take("nonsense"), Take::Apart);
    }

    #[derive(Clone, Debug, PartialEq)]
    struct Fake {
        next: String,
        more: bool,
        changes: usize,
    }

    impl Page for Fake {
        fn next_cursor(&self) -> &str {
            &self.next
        }
        fn has_more(&self) -> bool {
            self.more
        }
        fn shows(&self) -> bool {
            self.changes > 0
        }
    }

    /// A tail reads at once from where it started, then at each move of the head, and
    /// hands on only the pages that show a change, each saying since where nothing was
    /// for the reader; a second follower of the same question joins the same tail.
    #[tokio::test]
    async fn a_tail_hands_on_the_pages_that_show_a_change() {
        let (core, heads) = CoreService::detached_with_heads_for_tests();
        // Pages by where they start: (c5, c7] shows nothing, (c7, c9] two changes with
        // more after, (c9, c10] nothing; then (c10, c12] one change.
        let pages: HashMap<&str, Fake> = [
            ("c5", ("c7", false, 0)),
            ("c7", ("c9", true, 2)),
            ("c9", ("c10", false, 0)),
            ("c10", ("c12", false, 1)),
        ]
        .into_iter()
        .map(|(at, (next, more, changes))| {
            (
                at,
                Fake {
                    next: next.into(),
                    more,
                    changes,
                },
            )
        })
        .collect();
        let reads = Arc::new(AtomicUsize::new(0));
        let reader = |pages: HashMap<&'static str, Fake>, reads: Arc<AtomicUsize>| {
            move |at: String| {
                reads.fetch_add(1, Ordering::SeqCst);
                let page = pages.get(at.as_str()).cloned();
                async move { page.ok_or(types::Error::Unavailable(at)) }
            }
        };
        let mut first = tail(&core, "q", "c5", reader(pages.clone(), reads.clone()));
        let mut second = tail(&core, "q", "c5", reader(pages.clone(), reads.clone()));
        // The first read shows nothing; nothing is handed on until the head moves.
        heads.send_replace(1);
        let step = first.recv().await.unwrap();
        assert_eq!(
            (step.mark.as_str(), step.from.as_str(), step.next()),
            ("c5", "c7", "c9")
        );
        assert_eq!(step.take("c5"), Take::Follows);
        let step2 = second.recv().await.unwrap();
        assert!(Arc::ptr_eq(&step, &step2), "one read for both followers");
        heads.send_replace(2);
        let step = first.recv().await.unwrap();
        assert_eq!(
            (step.mark.as_str(), step.from.as_str(), step.next()),
            ("c9", "c10", "c12")
        );
        assert_eq!(step.take("c9"), Take::Follows);
        assert_eq!(
            reads.load(Ordering::SeqCst),
            4,
            "c5, c7, c9 once each, then c10"
        );
    }

    /// Answers past their second go once more questions come: the kept ones stay within
    /// twice the fresh ones (pages of up to 500 changes each were kept until 4,096).
    #[tokio::test]
    async fn answers_past_their_second_are_dropped_as_questions_come() {
        let core = CoreService::detached_for_tests().reading_as([7; 32]);
        let n = AtomicUsize::new(0);
        for i in 0..300 {
            read(&core, format!("old {i}"), 1, asked(&n, i))
                .await
                .unwrap();
        }
        tokio::time::sleep(KEEP + Duration::from_millis(50)).await;
        for i in 0..300 {
            read(&core, format!("new {i}"), 1, asked(&n, i))
                .await
                .unwrap();
        }
        let flights = FLIGHTS.lock().unwrap();
        let prefix = format!("{}\nold ", core.reader_key());
        let stale = flights
            .asked
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .count();
        assert_eq!(stale, 0, "{} kept", flights.asked.len());
    }

    #[tokio::test]
    async fn readers_of_one_question_share_a_read_unless_their_head_is_later() {
        let core = CoreService::detached_for_tests();
        let n = AtomicUsize::new(0);
        let q = || "feed c5".to_string();
        let (a, b, c) = tokio::join!(
            read(&core, q(), 7, asked(&n, 1)),
            read(&core, q(), 7, asked(&n, 2)),
            read(&core, q(), 6, asked(&n, 3)),
        );
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (1, 1, 1));
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // A reader that saw a later head may not take an answer asked before it.
        assert_eq!(read(&core, q(), 8, asked(&n, 4)).await.unwrap(), 4);
        // Another question, or another reader of the same one, reads for itself.
        assert_eq!(
            read(&core, "feed c6".into(), 8, asked(&n, 5))
                .await
                .unwrap(),
            5
        );
        let other = core.reading_as([9; 32]);
        assert_eq!(read(&other, q(), 8, asked(&n, 6)).await.unwrap(), 6);
        assert_eq!(n.load(Ordering::SeqCst), 4);
    }
}
