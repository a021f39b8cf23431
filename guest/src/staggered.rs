//! Staggered attempts: the race behind Happy Eyeballs (RFC 8305), asyncio's
//! `staggered.staggered_race`.
//!
//! Attempts start one after another: the next starts when the previous fails or when
//! `delay` has passed since it started, whichever comes first. The first attempt that
//! succeeds wins; the others are dropped, which cancels them. All attempts run inside the
//! caller's task, so nothing outlives the race.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use crate::error::{Error, Result};

/// An attempt, started on demand.
pub(crate) type Attempt<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + 'a>>;

/// Runs the attempts staggered by `delay` (`None`: strictly one after another). Returns the
/// winner, or the error of every attempt in the order they were started.
pub(crate) async fn staggered_race<'a, T>(
    mut attempts: impl Iterator<Item = Attempt<'a, T>>,
    delay: Option<Duration>,
) -> std::result::Result<T, Vec<Error>> {
    let mut running: Vec<(usize, Attempt<'a, T>)> = Vec::new();
    let mut errors: Vec<(usize, Error)> = Vec::new();
    let mut started = 0usize;
    let mut exhausted = false;
    let mut timer: Option<Pin<Box<dyn Future<Output = Result<()>>>>> = None;

    let mut start_next = |running: &mut Vec<(usize, Attempt<'a, T>)>,
                          timer: &mut Option<Pin<Box<dyn Future<Output = Result<()>>>>>,
                          exhausted: &mut bool| {
        match attempts.next() {
            Some(attempt) => {
                running.push((started, attempt));
                started += 1;
                *timer = delay.map(|d| Box::pin(crate::sleep(d)) as Pin<Box<_>>);
            }
            None => {
                *exhausted = true;
                *timer = None;
            }
        }
    };
    start_next(&mut running, &mut timer, &mut exhausted);

    poll_fn(|cx| {
        loop {
            let mut start_now = false;
            let mut i = 0;
            while i < running.len() {
                match running[i].1.as_mut().poll(cx) {
                    Poll::Ready(Ok(value)) => return Poll::Ready(Ok(value)),
                    Poll::Ready(Err(err)) => {
                        let (index, _) = running.remove(i);
                        errors.push((index, err));
                        // A failure starts the next attempt at once.
                        start_now = true;
                    }
                    Poll::Pending => i += 1,
                }
            }
            if !start_now
                && let Some(t) = timer.as_mut()
                && t.as_mut().poll(cx).is_ready()
            {
                start_now = true;
            }
            if start_now && !exhausted {
                start_next(&mut running, &mut timer, &mut exhausted);
                continue;
            }
            if running.is_empty() && (exhausted || timer.is_none()) {
                if !exhausted {
                    // Sequential mode and the last attempt failed: try the next, if any.
                    start_next(&mut running, &mut timer, &mut exhausted);
                    if !running.is_empty() {
                        continue;
                    }
                }
                errors.sort_by_key(|(index, _)| *index);
                let all = std::mem::take(&mut errors)
                    .into_iter()
                    .map(|(_, e)| e)
                    .collect();
                return Poll::Ready(Err(all));
            }
            return Poll::Pending;
        }
    })
    .await
}
