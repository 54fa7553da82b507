//! A connection to PostgreSQL with a bound on every round trip. The driver's calls block
//! until the server answers, and a server that stops answering (stalled, or behind a
//! network that drops packets without a reset) answers nothing: a host waited minutes,
//! every caller behind it. So a connection lives on a thread of its own and each call
//! is sent to it: the caller waits [`Bounds::round_trip`] at most, then gives the
//! connection up (its thread ends once the server answers or TCP gives up, rolling back
//! what it had open) and the next call opens another. TCP keepalive closes a connection
//! to a peer that went away while idle.
//!
//! Process-wide, [`unanswered_for`] says how long the database has kept a call waiting
//! or failing, for a health check.

use super::tls::Target;
use postgres::Client;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, mpsc};
use std::time::{Duration, Instant};

/// How long a connection and each round trip may take.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Opening a connection: TCP, TLS, authentication and the session's settings.
    pub connect: Duration,
    /// One call's round trips (a statement, or the few of one step such as a commit).
    /// A little above the server's `statement_timeout`, so a slow statement ends with
    /// the server's error and only a server that stopped answering reaches it.
    pub round_trip: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            connect: Duration::from_secs(10),
            round_trip: Duration::from_secs(35),
        }
    }
}

/// TCP keepalive: first probe after this much idle time, then every [`KEEPALIVE_EVERY`],
/// [`KEEPALIVE_PROBES`] unanswered probes close the connection.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
const KEEPALIVE_EVERY: Duration = Duration::from_secs(5);
const KEEPALIVE_PROBES: u32 = 3;

/// Most connections given up on whose threads still wait for their server, in all: past
/// it no new one is opened (a stalled server would otherwise collect one every call).
const MAX_ABANDONED: usize = 8;
static ABANDONED: AtomicUsize = AtomicUsize::new(0);

/// A connection thread's state, for [`ABANDONED`]'s count.
const RUNNING: u8 = 0;
const GIVEN_UP: u8 = 1;
const ENDED: u8 = 2;

/// The driver's settings every connection of maas gets: the connect timeout (unless the
/// URL has its own `connect_timeout`) and TCP keepalive (likewise), and, since a write
/// the server does not acknowledge is as stuck as an answer that does not come, a TCP
/// user timeout of one round trip.
pub fn bound(target: &mut Target, bounds: &Bounds, url: &str) {
    let config = &mut target.config;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(bounds.connect);
    }
    if !url.contains("keepalives") {
        config.keepalives(true);
        config.keepalives_idle(KEEPALIVE_IDLE);
        config.keepalives_interval(KEEPALIVE_EVERY);
        config.keepalives_retries(KEEPALIVE_PROBES);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(bounds.round_trip);
    }
}

type Job = Box<dyn FnOnce(&mut Client) + Send>;

/// Why a session could not be opened or a call did not answer.
#[derive(Debug)]
pub enum Failure {
    /// The driver's error (the server refused, the connection broke).
    Driver(postgres::Error),
    /// No answer within the bound; the connection was given up.
    Stalled(Duration),
    /// Too many connections given up on still wait for the server.
    TooManyWaiting(usize),
    /// No thread could be started for the connection.
    NoThread(String),
}

/// One connection on a thread of its own.
pub struct Session {
    jobs: mpsc::Sender<Job>,
    /// Its waits count in [`unanswered_for`] (a listener's wait for notifications does
    /// not).
    counted: bool,
    state: Arc<AtomicU8>,
    /// The driver found the connection closed after the last call.
    closed: Arc<AtomicBool>,
}

impl Session {
    /// Opens a connection to `target` and runs `setup` on it, within `limit`; `counted`:
    /// its calls' waits count in [`unanswered_for`].
    pub fn open(
        target: &Target,
        setup: String,
        limit: Duration,
        counted: bool,
    ) -> Result<Session, Failure> {
        let waiting = ABANDONED.load(Ordering::Acquire);
        if waiting >= MAX_ABANDONED {
            return Err(Failure::TooManyWaiting(waiting));
        }
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::sync_channel(1);
        let state = Arc::new(AtomicU8::new(RUNNING));
        let closed = Arc::new(AtomicBool::new(false));
        let target = target.clone();
        let (thread_state, thread_closed) = (state.clone(), closed.clone());
        let started = std::thread::Builder::new()
            .name("maas-pg".into())
            .spawn(move || {
                let _ended = Ended(thread_state);
                let mut client = match target.connect().and_then(|mut c| {
                    c.batch_execute(&setup)?;
                    Ok(c)
                }) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                if ready_tx.send(Ok(())).is_err() {
                    return;
                }
                for job in rx {
                    job(&mut client);
                    if client.is_closed() {
                        thread_closed.store(true, Ordering::Release);
                    }
                }
            });
        if let Err(e) = started {
            return Err(Failure::NoThread(e.to_string()));
        }
        let session = Session {
            jobs,
            counted,
            state,
            closed,
        };
        match ready.recv_timeout(limit) {
            Ok(Ok(())) => {
                if counted {
                    answered();
                }
                Ok(session)
            }
            Ok(Err(e)) => {
                if counted {
                    failed();
                }
                Err(Failure::Driver(e))
            }
            Err(_) => {
                if counted {
                    failed();
                }
                session.give_up();
                Err(Failure::Stalled(limit))
            }
        }
    }

    /// Runs `f` on the connection and waits `limit` at most for it; past that the
    /// connection is given up (drop this session).
    pub fn call<T: Send + 'static>(
        &self,
        limit: Duration,
        f: impl FnOnce(&mut Client) -> T + Send + 'static,
    ) -> Result<T, Failure> {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.counted {
            waiting(Instant::now());
        }
        let sent = self.jobs.send(Box::new(move |c| {
            let _ = tx.send(f(c));
        }));
        let answer = match sent {
            Ok(()) => rx.recv_timeout(limit).map_err(|_| Failure::Stalled(limit)),
            // The thread ended: only if it could not connect, which `open` reported.
            Err(_) => Err(Failure::Stalled(Duration::ZERO)),
        };
        if self.counted {
            done_waiting();
        }
        match answer {
            Ok(value) => {
                if self.counted {
                    answered();
                }
                Ok(value)
            }
            Err(e) => {
                if self.counted {
                    failed();
                }
                self.give_up();
                Err(e)
            }
        }
    }

    /// [`Session::call`] of a call that may fail; after a failure the connection is
    /// checked (one round trip), since the driver finds it closed only on the call after
    /// the one that met the break.
    pub fn call_checked<T: Send + 'static, E: Send + 'static>(
        &self,
        limit: Duration,
        f: impl FnOnce(&mut Client) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, Failure> {
        let closed = self.closed.clone();
        self.call(limit, move |client| {
            let answer = f(client);
            if answer.is_err() && client.check_connection().is_err() {
                closed.store(true, Ordering::Release);
            }
            answer
        })
    }

    /// True when the driver found the connection closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Counts the connection's thread as given up on while it still runs.
    fn give_up(&self) {
        self.closed.store(true, Ordering::Release);
        ABANDONED.fetch_add(1, Ordering::AcqRel);
        if self
            .state
            .compare_exchange(RUNNING, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            ABANDONED.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Marks a connection's thread ended, and no longer waiting if it was given up on.
struct Ended(Arc<AtomicU8>);

impl Drop for Ended {
    fn drop(&mut self) {
        if self.0.swap(ENDED, Ordering::AcqRel) == GIVEN_UP {
            ABANDONED.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The process's first use of this module: the times below count from it.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
/// When a call or connection last succeeded, and when the last one failed (ms since
/// [`EPOCH`] + 1; 0: never).
static LAST_ANSWER: AtomicU64 = AtomicU64::new(0);
static LAST_FAILURE: AtomicU64 = AtomicU64::new(0);
/// When the oldest call still waiting began (ms since [`EPOCH`] + 1; 0: none), and how
/// many wait.
static WAITING_SINCE: AtomicU64 = AtomicU64::new(0);
static WAITING: AtomicUsize = AtomicUsize::new(0);

fn now_ms() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

fn ms_of(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(*EPOCH).as_millis())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

fn answered() {
    LAST_ANSWER.store(now_ms(), Ordering::Release);
}

fn failed() {
    LAST_FAILURE.store(now_ms(), Ordering::Release);
}

fn waiting(began: Instant) {
    if WAITING.fetch_add(1, Ordering::AcqRel) == 0 {
        WAITING_SINCE.store(ms_of(began), Ordering::Release);
    }
}

fn done_waiting() {
    if WAITING.fetch_sub(1, Ordering::AcqRel) == 1 {
        WAITING_SINCE.store(0, Ordering::Release);
    }
}

/// How long this process's PostgreSQL journal has not answered: the time since the
/// last answer while a call waits (since the oldest waiting call began, if it answered
/// since) or after the last call failed; `None` while it answers. For a health check:
/// a host whose journal has not answered for longer than a round trip's bound cannot
/// serve a change.
pub fn unanswered_for() -> Option<Duration> {
    let now = now_ms();
    let last_answer = LAST_ANSWER.load(Ordering::Acquire);
    let since = WAITING_SINCE.load(Ordering::Acquire);
    let failure = LAST_FAILURE.load(Ordering::Acquire);
    let from = if since != 0 {
        Some(since.max(last_answer))
    } else if failure > last_answer {
        Some(last_answer.max(1))
    } else {
        None
    };
    from.map(|from| Duration::from_millis(now.saturating_sub(from)))
}
