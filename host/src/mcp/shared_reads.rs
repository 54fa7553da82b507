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

use crate::bindings::types;
use crate::service::CoreService;
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How long an answer is handed to readers of the same question.
const KEEP: Duration = Duration::from_secs(1);
/// Questions kept before those older than [`KEEP`] are dropped.
const PRUNE_AT: usize = 4_096;

type Answer = Result<Arc<dyn Any + Send + Sync>, types::Error>;

struct Flight {
    /// The head when it was asked: its answer covers the journal up to here at least.
    head: u64,
    asked: Instant,
    answer: Arc<OnceCell<Answer>>,
}

static FLIGHTS: LazyLock<Mutex<HashMap<String, Flight>>> = LazyLock::new(Mutex::default);

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
        match flights.get(&key) {
            Some(f) if f.head >= head && f.asked.elapsed() < KEEP => f.answer.clone(),
            _ => {
                if flights.len() >= PRUNE_AT {
                    flights.retain(|_, f| f.asked.elapsed() < KEEP);
                }
                let answer = Arc::new(OnceCell::new());
                let flight = Flight {
                    head,
                    asked: Instant::now(),
                    answer: answer.clone(),
                };
                flights.insert(key, flight);
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
