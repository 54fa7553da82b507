//! Following the other hosts' commits: a thread that listens on [`CHANNEL`] over a
//! connection of its own and passes on that the journal moved.
//!
//! A notification is a hint and nothing more: any role that can connect to the
//! database can send one, with any payload. The payload (the head the notifier
//! committed) is passed on only so a host can skip reading the journal for what it
//! already has; whoever receives it reads the journal's own head
//! (`CoreService::head_moved`), so a forged one costs a read and moves nothing.

use super::session::{Bounds, Session};
use super::{CHANNEL, JournalError, bounded_target};
use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;
use std::time::Duration;

/// How long the listener waits for a notification before it checks that the server
/// still answers (a stalled one sends nothing, as an idle one does).
const QUIET: Duration = Duration::from_secs(10);
/// Most notifications read at once (a flood of them is one hint).
const DRAINED: usize = 1_000;
/// How long a failed or stalled listening connection is not opened again.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// Starts the listener thread: it calls `on_hint` with the highest payload of the
/// notifications it reads at once (`u64::MAX` for one that is not a number), never
/// trusted as the head; it opens its connection again (every second) when it is lost
/// or does not answer within its bounds.
pub fn listen(url: &str, on_hint: impl Fn(u64) + Send + 'static) -> Result<(), JournalError> {
    let bounds = Bounds::default();
    let target = bounded_target(url, &bounds)?;
    std::thread::Builder::new()
        .name("maas-pg-listen".into())
        .spawn(move || {
            loop {
                let listening =
                    Session::open(&target, format!("LISTEN {CHANNEL}"), bounds.connect, false);
                if let Ok(session) = listening {
                    let limit = QUIET + bounds.round_trip;
                    while let Ok(Ok(hint)) = session.call(limit, next_hint) {
                        if let Some(hint) = hint {
                            on_hint(hint);
                        }
                    }
                }
                std::thread::sleep(RECONNECT_EVERY);
            }
        })
        .map(drop)
        .map_err(|e| JournalError::Unavailable(format!("cannot start the listener: {e}")))
}

/// Waits up to [`QUIET`] for notifications: the highest payload among those read (a
/// payload that is not a number counts as the highest), or `None` when none came and
/// the server answered a query.
fn next_hint(client: &mut Client) -> Result<Option<u64>, postgres::Error> {
    let payload = |n: &postgres::Notification| n.payload().parse::<u64>().unwrap_or(u64::MAX);
    let mut notifications = client.notifications();
    let first = notifications.timeout_iter(QUIET).next()?;
    let Some(first) = first else {
        drop(notifications);
        client.simple_query("SELECT 1")?;
        return Ok(None);
    };
    let mut hint = payload(&first);
    let mut more = notifications.iter();
    for _ in 0..DRAINED {
        match more.next()? {
            Some(n) => hint = hint.max(payload(&n)),
            None => break,
        }
    }
    Ok(Some(hint))
}
