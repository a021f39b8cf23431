//! The `sandloop:host/host-functions` bindings: calls of the embedding application's
//! functions, answered through the reactor.

use super::bindings::host_functions as wit;
use super::errors::error_from_wit;
use crate::error::{Error, Result};

/// A pending call (`host-functions.host-call`); dropping it abandons the answer.
pub(crate) struct HostCall(wit::HostCall);

/// Calls function `name` on `args`; its event comes under `token`.
pub(crate) fn call(name: &str, args: &[u8], token: u64) -> Result<HostCall> {
    wit::call(name, args, token)
        .map(HostCall)
        .map_err(error_from_wit)
}

impl HostCall {
    /// The answer, once the call's event came (taken: `None` before and after).
    pub(crate) fn answer(&self, name: &str) -> Option<Result<Vec<u8>>> {
        Some(self.0.answer()?.map_err(|err| match err {
            wit::CallError::Failed(message) => Error::other(message),
            wit::CallError::NoAnswer(message) => {
                Error::runtime(format!("host function {name:?} gave no answer: {message}"))
            }
        }))
    }
}
