//! Host functions: capabilities the embedding application provides (its database, its key
//! store, a user's session), called by name and awaited on the loop.
//!
//! The application registers functions for a run (`sandloop_host::HostFunctions`) and the
//! run's policy grants the names the workload may call. A call sends its arguments as
//! bytes (JSON for [`call`], as they are for [`call_raw`]); the application answers from
//! whatever thread it likes, and the awaiting task resumes through the reactor, as a
//! lookup or an executor job does. The loop keeps running callbacks, timers and I/O
//! meanwhile, and any number of calls may be in flight (each is a host handle: the
//! workload's handle limit bounds them).
//!
//! Errors:
//! - a name the policy does not grant: [`Error::PermissionDenied`], whether or not the
//!   application provides it;
//! - a granted name the application does not provide: [`Error::Os`] of kind `NotFound`;
//! - at the handle limit: [`Error::Os`] of kind `QuotaExceeded`;
//! - the function's own error: [`Error::Other`] with its message;
//! - a function that panicked or dropped its reply without answering: [`Error::Runtime`].
//!
//! Cancelling the awaiting task abandons the call: the application's answer is then
//! dropped.
//!
//! ```no_run
//! sandloop::run(async {
//!     // "user.lookup" is a function the embedding application provides and grants.
//!     let email: String = sandloop::host_functions::call("user.lookup", &42u64).await?;
//!     println!("{email}");
//!     Ok::<_, sandloop::Error>(())
//! })?;
//! # Ok::<_, sandloop::Error>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::events::get_running_loop;
use crate::json;
use crate::sys::host_functions as sys;

/// Calls the application's function `name` with `args` serialized as JSON and decodes its
/// JSON answer into `R`; needs a running loop (see the [module docs](self) for the
/// errors).
///
/// ```no_run
/// # async fn demo() -> sandloop::Result<()> {
/// let sum: i64 = sandloop::host_functions::call("add", &(2, 3)).await?;
/// assert_eq!(sum, 5);
/// # Ok(()) }
/// ```
pub async fn call<A, R>(name: &str, args: &A) -> Result<R>
where
    A: Serialize + ?Sized,
    R: DeserializeOwned,
{
    let of = format!("host function {name:?}");
    let answer = call_raw(name, &json::encode_arguments(args, &of)?).await?;
    json::decode_answer(&answer, &of)
}

/// Calls the application's function `name` with `args` as they are and returns its
/// answer's bytes; needs a running loop (see the [module docs](self) for the errors).
///
/// ```no_run
/// # async fn demo() -> sandloop::Result<()> {
/// let digest = sandloop::host_functions::call_raw("sha256", b"hello").await?;
/// assert_eq!(digest.len(), 32);
/// # Ok(()) }
/// ```
pub async fn call_raw(name: &str, args: &[u8]) -> Result<Vec<u8>> {
    let lp = get_running_loop()?;
    let pending = lp.host_answer(|token| sys::call(name, args, token)).await?;
    pending.answer(name).unwrap_or_else(|| {
        Err(Error::runtime(format!(
            "the host reported host function {name:?} without its answer"
        )))
    })
}
