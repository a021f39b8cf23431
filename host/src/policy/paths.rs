//! Lexical path normalization, shared by the rules that name host paths (unix sockets,
//! executables): a rule and a request are compared as normalized paths.

use std::path::{Component, Path, PathBuf};

/// `path` without `.` components and repeated slashes, made absolute against `base()`
/// when it is relative; `None` if it has a `..` (the kernel resolves `..` after symbolic
/// links, so no lexical check can tell where it leads).
pub(crate) fn normalize(path: &Path, base: impl FnOnce() -> PathBuf) -> Option<PathBuf> {
    let mut out = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        base()
    };
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => return None,
            Component::Normal(part) => out.push(part),
        }
    }
    Some(out)
}
