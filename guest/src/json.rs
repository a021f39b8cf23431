//! JSON, the encoding of typed calls that cross to the host and back: `run_in_executor`'s
//! jobs and the embedding application's host functions. One place for the error words, so
//! a failure names what was being encoded or decoded the same way for both.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// `args` as JSON; `of` names the call ("job \"add\"", "host function \"kv.get\"").
pub(crate) fn encode_arguments<A: Serialize + ?Sized>(args: &A, of: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(args)
        .map_err(|e| Error::other(format!("cannot serialize the arguments of {of}: {e}")))
}

/// The answer `bytes` of the call `of`, decoded from JSON.
pub(crate) fn decode_answer<R: DeserializeOwned>(bytes: &[u8], of: &str) -> Result<R> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::other(format!("cannot decode the answer of {of}: {e}")))
}
