//! `fs.open-file` through the trait method the guest calls: regular files and
//! directories open, special files are refused at once (a FIFO without a writer among
//! them, which a plain open would wait on), paths stay confined to the directory, and a
//! descriptor that is not a directory is refused.

use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{Descriptor, Dir};
use wasmtime_wasi::{FsPerms, OpenMode};

use crate::bindings::fs::Host as _;
use crate::bindings::types::{Error, ErrorKind};
use crate::fs::StdioAccess;
use crate::testing::{Fixture, borrow};

/// A directory of this test's own with `regular.txt`, `sub/`, a FIFO `fifo` and a unix
/// socket file `socket`; removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(test: &str) -> Tree {
        let dir =
            std::env::temp_dir().join(format!("sandloop-open-file-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("regular.txt"), b"twelve bytes").unwrap();
        let fifo = std::ffi::CString::new(dir.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        drop(std::os::unix::net::UnixListener::bind(dir.join("socket")).unwrap());
        Tree(dir)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Fixture {
    /// `dir` as a preopened directory's descriptor (read-only, as `--dir` grants it).
    fn preopen(&mut self, dir: &Path) -> Resource<Descriptor> {
        let dir = Dir::new(
            std::fs::File::open(dir).unwrap(),
            FsPerms::ReadOnly,
            OpenMode::READ,
            false,
        );
        self.table.push(Descriptor::Dir(dir)).unwrap()
    }

    /// `open-file` as the guest calls it, `dir` being any handle.
    fn call_open_file(
        &mut self,
        dir: Resource<Descriptor>,
        path: &str,
    ) -> wasmtime::Result<Result<Resource<Descriptor>, Error>> {
        self.fs(StdioAccess::default()).open_file(dir, path.into())
    }

    /// What `open-file` of `path` beneath `dir` opened.
    fn open_file(&mut self, dir: &Resource<Descriptor>, path: &str) -> Result<Opened, Error> {
        let opened = self.call_open_file(borrow(dir), path).expect("no trap")?;
        Ok(match self.table.get(&opened).unwrap() {
            Descriptor::File(f) => {
                assert_eq!(f.open_mode, OpenMode::READ);
                Opened::File(f.file.metadata().unwrap().len())
            }
            Descriptor::Dir(d) => {
                assert_eq!(d.open_mode, OpenMode::READ);
                Opened::Dir
            }
        })
    }
}

#[derive(Debug, PartialEq)]
enum Opened {
    File(u64),
    Dir,
}

#[test]
fn regular_files_and_directories_open_read_only() {
    let tree = Tree::new("regular");
    let mut fx = Fixture::loopback();
    let dir = fx.preopen(&tree.0);
    assert_eq!(fx.open_file(&dir, "regular.txt").unwrap(), Opened::File(12));
    assert_eq!(fx.open_file(&dir, "sub").unwrap(), Opened::Dir);
    assert_eq!(fx.open_file(&dir, ".").unwrap(), Opened::Dir);
}

#[test]
fn special_files_are_refused_without_waiting_for_a_writer() {
    let tree = Tree::new("special");
    let mut fx = Fixture::loopback();
    let dir = fx.preopen(&tree.0);
    let err = fx.open_file(&dir, "fifo").unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::Unsupported, "a FIFO, not a regular file")
    );
    // open(2) itself refuses a socket file (ENXIO).
    assert!(fx.open_file(&dir, "socket").is_err());

    let dev = fx.preopen(Path::new("/dev"));
    let err = fx.open_file(&dev, "null").unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (
            ErrorKind::Unsupported,
            "a character device, not a regular file"
        )
    );
}

#[test]
fn paths_stay_beneath_the_directory() {
    let tree = Tree::new("confined");
    let mut fx = Fixture::loopback();
    let sub = fx.preopen(&tree.0.join("sub"));
    std::os::unix::fs::symlink("/etc/passwd", tree.0.join("sub/escape")).unwrap();
    for (path, kind) in [
        ("../regular.txt", ErrorKind::PermissionDenied),
        ("/etc/passwd", ErrorKind::PermissionDenied),
        ("escape", ErrorKind::PermissionDenied),
        ("missing", ErrorKind::NotFound),
    ] {
        assert_eq!(fx.open_file(&sub, path).unwrap_err().kind, kind, "{path}");
    }
}

#[test]
fn a_file_descriptor_is_no_directory_to_open_from() {
    let tree = Tree::new("not-a-dir");
    let mut fx = Fixture::loopback();
    let dir = fx.preopen(&tree.0);
    let file = fx
        .call_open_file(borrow(&dir), "regular.txt")
        .unwrap()
        .unwrap();
    let err = fx.call_open_file(file, "x").unwrap().unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
}

#[test]
fn a_stale_directory_handle_traps() {
    let tree = Tree::new("stale");
    let mut fx = Fixture::loopback();
    let dir = fx.preopen(&tree.0);
    let rep = dir.rep();
    fx.table.delete(dir).unwrap();
    let result = fx.call_open_file(Resource::new_borrow(rep), "regular.txt");
    assert!(result.is_err(), "a trap, not an answer");
}
