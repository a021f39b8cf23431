//! Waiting on the loop for a `wasi:http` resource (a body's stream, a response on its
//! way): the resource's pollable goes into the portable reactor under a fresh token, and
//! the task waits for that token's event while the loop runs everything else.

use crate::error::{Error, Result};
use crate::events::get_running_loop;
use crate::sys::net::HostSource;

/// Waits until the pollable of the registration `watch` makes (under the token it is
/// given) is ready. `None` from `watch`: there is nothing to wait for any more.
pub(crate) async fn wait_ready(watch: impl FnOnce(u64) -> Option<HostSource>) -> Result<()> {
    let lp = get_running_loop()?;
    let source = lp
        .host_answer(|token| {
            watch(token).ok_or_else(|| Error::invalid_state("the resource waited on is gone"))
        })
        .await?;
    // The registration goes now that its one event came.
    drop(source);
    Ok(())
}
