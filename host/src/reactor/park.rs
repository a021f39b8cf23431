//! Waiting on shared threads: an instance whose `wait` finds nothing ready parks its task
//! instead of blocking a thread.
//!
//! The instance sits at the shared reactor (`hub.rs`): its registrations are in the hub's
//! one epoll set, and what the kernel reports for them arrives in its mailbox, drained by
//! its own `wait` or by the hub's dispatcher, which rings its [`Doorbell`]. Wake-ups from
//! other threads ring the same doorbell, and the wait's timeout is a timer of the shared
//! runtime. So a parked instance holds no thread and no descriptor of its own.
//!
//! A busy instance, whose every `wait` finds something ready, would never give its thread
//! up: after [`BUDGET`] of work since it last did, its next `wait` yields first. It also
//! yields at its next `wait` when its own drain of the shared reactor woke other
//! instances: they were woken on its thread (tokio runs a task woken there next, where
//! the other threads cannot take it), and wait for it to give the thread up.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::doorbell::Doorbell;
use super::event::Readiness;
use super::hub::{Hub, Seat};

/// How long an instance on shared threads runs callbacks before its next `wait` lets the
/// others have the thread. Small against the latency an idle neighbour would notice; a
/// yield costs about a microsecond.
pub const BUDGET: Duration = Duration::from_millis(1);

/// What the parked wait of one instance needs.
pub(super) struct Park {
    pub(super) doorbell: Arc<Doorbell>,
    pub(super) seat: Seat,
    /// When the instance last gave its thread up.
    since_yield: Instant,
    /// Its last drain woke other instances: it yields at its next wait.
    owes_turn: bool,
}

impl Park {
    pub(super) fn new(hub: &Arc<Hub>) -> io::Result<Park> {
        let doorbell = Arc::<Doorbell>::default();
        let seat = hub.seat(Arc::clone(&doorbell))?;
        Ok(Park {
            doorbell,
            seat,
            since_yield: Instant::now(),
            owes_turn: false,
        })
    }

    /// Yields the thread if the instance has run its budget since it last did.
    pub(super) async fn take_turn(&mut self) {
        if self.owes_turn || self.since_yield.elapsed() >= BUDGET {
            tokio::task::yield_now().await;
            self.since_yield = Instant::now();
            self.owes_turn = false;
        }
    }

    /// Moves what the kernel reported for this instance into `ready`.
    pub(super) fn take(&mut self, ready: &mut Vec<Readiness>) -> io::Result<()> {
        self.owes_turn |= self.seat.take(ready)?;
        Ok(())
    }

    /// Parks until the doorbell rings (events in the mailbox, or a wake from another
    /// thread) or `timeout` passes (`None`: never).
    pub(super) async fn park(&mut self, timeout: Option<Duration>) {
        let doorbell = &self.doorbell;
        let mut sleep = pin!(timeout.map(tokio::time::sleep));
        std::future::poll_fn(|cx| {
            if doorbell.poll_rung(cx).is_ready() {
                return Poll::Ready(());
            }
            if let Some(sleep) = sleep.as_mut().as_pin_mut()
                && sleep.poll(cx).is_ready()
            {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
        self.since_yield = Instant::now();
        self.owes_turn = false;
    }
}
