//! Precompiled code (`.cwasm`): what `sandloop compile` writes, and the checks before the
//! host maps it and runs it.
//!
//! A `.cwasm` is native machine code that wasmtime maps and runs as is: none of
//! WebAssembly's validation applies to it, so loading one is as trusting as running a
//! native binary, and a damaged one can crash the host (flipped bytes made it panic,
//! abort or die of an illegal instruction).
//! Hence, as wasmtime's own CLI does, such files are refused unless the caller opts in
//! (`Runtime::load_precompiled`, `sandloop run --allow-precompiled`), and then checked:
//!
//! - only under the `.cwasm` extension, so that a file presented as a component never
//!   smuggles native code in;
//! - against its integrity trailer: `sandloop compile` appends the SHA-256 of what
//!   wasmtime wrote, then the 8 bytes `SLSHA256`; the file is hashed before wasmtime maps
//!   it. This catches damage (a bad disk, a truncated copy, a file edited in place), not
//!   a forger: whoever can write a `.cwasm` can write its trailer too. That is what the
//!   opt-in is for. The check reads the whole file, about 0.7 ms per MiB on the project's
//!   machine (3.4 ms for a 4.6 MiB `.cwasm`, most of it debug info, where mapping it
//!   takes 0.3 ms); like any mapped file, it must not change while it loads (wasmtime's
//!   own condition);
//! - by wasmtime, which refuses code from another wasmtime version or engine setup.
//!
//! By hand: `head -c -40 app.cwasm | sha256sum` is the first 32 bytes of
//! `tail -c 40 app.cwasm`.

use std::io::{self, Read, Seek, SeekFrom};

use sha2::{Digest as _, Sha256};

/// The extension `sandloop compile` writes and [`Runtime::load_precompiled`] requires of
/// precompiled code.
///
/// [`Runtime::load_precompiled`]: crate::Runtime::load_precompiled
pub const PRECOMPILED_EXTENSION: &str = "cwasm";

/// The last 8 bytes of a `.cwasm`, after the digest: names the trailer's format.
const TAG: &[u8; 8] = b"SLSHA256";

/// The digest's length.
const DIGEST_LEN: usize = 32;

/// The trailer's length: the digest, then the tag.
const TRAILER_LEN: usize = DIGEST_LEN + TAG.len();

/// Why precompiled code is not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrecompiledError {
    /// Native code given to [`Runtime::load`](crate::Runtime::load), which never loads it.
    #[error(
        "this is precompiled native code (a .cwasm), which runs without WebAssembly's \
         checks: it is loaded only by `Runtime::load_precompiled`, for a file trusted as a \
         native binary would be"
    )]
    NotAllowed,
    /// Native code in a file not named `*.cwasm`.
    #[error("refusing native code from a file not named *.{PRECOMPILED_EXTENSION}")]
    NotNamedCwasm,
    /// No integrity trailer: not written by `sandloop compile` (or by a version before
    /// the trailer).
    #[error(
        "no integrity trailer: this file was not written by `sandloop compile` (or by an \
         older version); compile the component again"
    )]
    NoTrailer,
    /// The contents do not match the trailer's digest.
    #[error(
        "integrity check failed: the SHA-256 of the contents does not match the one \
         `sandloop compile` wrote, so the file was damaged or changed since; compile the \
         component again"
    )]
    Corrupted,
    /// Native code, but not a component precompiled by wasmtime.
    #[error("this is not a component precompiled by `sandloop compile`")]
    NotAComponent,
}

/// `code` (what wasmtime wrote) with its integrity trailer appended.
pub(super) fn seal(mut code: Vec<u8>) -> Vec<u8> {
    let digest = Sha256::digest(&code);
    code.extend_from_slice(&digest);
    code.extend_from_slice(TAG);
    code
}

/// Checks a sealed `.cwasm` read from `file`: `Ok(Ok(()))` once the digest of everything
/// before the trailer matches the trailer's, `Ok(Err(..))` when it does not; reading the
/// file fails as the outer `io::Error`.
pub(super) fn verify(mut file: impl Read + Seek) -> io::Result<Result<(), PrecompiledError>> {
    let len = file.seek(SeekFrom::End(0))?;
    let Some(code_len) = len.checked_sub(TRAILER_LEN as u64) else {
        return Ok(Err(PrecompiledError::NoTrailer));
    };
    let mut trailer = [0; TRAILER_LEN];
    file.seek(SeekFrom::Start(code_len))?;
    file.read_exact(&mut trailer)?;
    let (digest, tag) = trailer.split_at(DIGEST_LEN);
    if tag != TAG {
        return Ok(Err(PrecompiledError::NoTrailer));
    }
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let copied = io::copy(&mut file.take(code_len), &mut HashWriter(&mut hasher))?;
    if copied != code_len || hasher.finalize().as_slice() != digest {
        return Ok(Err(PrecompiledError::Corrupted));
    }
    Ok(Ok(()))
}

/// Feeds what is written into a hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_file_verifies_and_any_change_is_caught() {
        let verdict = |bytes: &[u8]| {
            verify(io::Cursor::new(bytes))
                .expect("a verdict, not a read error")
                .err()
        };
        let sealed = seal(b"native code".to_vec());
        assert_eq!(verdict(&sealed), None);
        for at in [0, 5, sealed.len() - 41, sealed.len() - 20] {
            let mut damaged = sealed.clone();
            damaged[at] ^= 1;
            assert_eq!(
                verdict(&damaged),
                Some(PrecompiledError::Corrupted),
                "at {at}"
            );
        }
        let mut bad_tag = sealed.clone();
        *bad_tag.last_mut().unwrap() ^= 1;
        assert_eq!(verdict(&bad_tag), Some(PrecompiledError::NoTrailer));
        assert_eq!(verdict(&sealed[..20]), Some(PrecompiledError::NoTrailer));
        assert_eq!(verdict(b""), Some(PrecompiledError::NoTrailer));
    }
}
