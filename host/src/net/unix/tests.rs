//! Unix sockets on paths and abstract names through the trait methods the guest calls,
//! in a temporary directory the policy grants.

use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use wasmtime::component::Resource;

use super::super::Socket;
use crate::bindings::net::{Host as _, HostSocket as _, SocketType};
use crate::bindings::types::{Address, AddressFamily, ErrorKind};
use crate::policy::Policy;
use crate::testing::{Fixture, borrow};

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sl-unix-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A policy that grants this directory.
    fn policy(&self) -> Policy {
        Policy::new()
            .allow_unix(&format!("{}/", self.0.display()))
            .unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unix(path: &Path) -> Address {
    Address::Unix(path.as_os_str().as_bytes().to_vec())
}

/// The bytes of a unix address (the generated `Address` has no `PartialEq`).
fn bytes_of(addr: Address) -> Vec<u8> {
    match addr {
        Address::Unix(bytes) => bytes,
        Address::Inet(text) => panic!("not a unix address: {text}"),
    }
}

impl Fixture {
    fn unix_socket_of_family(&mut self) -> Resource<Socket> {
        self.net()
            .create(AddressFamily::Unix, SocketType::Stream)
            .unwrap()
            .unwrap()
    }

    fn unix_listener(&mut self, addr: Address) -> Resource<Socket> {
        let sock = self.unix_socket_of_family();
        self.net().bind(borrow(&sock), addr).unwrap().expect("bind");
        self.net()
            .listen(borrow(&sock), 8)
            .unwrap()
            .expect("listen");
        sock
    }
}

#[test]
fn bind_listen_connect_accept_in_a_granted_directory() {
    let dir = TempDir::new();
    let path = dir.path("s.sock");
    let mut fx = Fixture::new(dir.policy());
    let listener = fx.unix_listener(unix(&path));
    assert_eq!(
        bytes_of(fx.net().local_address(borrow(&listener)).unwrap().unwrap()),
        path.as_os_str().as_bytes()
    );

    let client = fx.unix_socket_of_family();
    fx.net()
        .connect(borrow(&client), unix(&path))
        .unwrap()
        .expect("a unix connect completes at once");
    let (conn, peer) = fx.net().accept(borrow(&listener)).unwrap().unwrap();
    assert_eq!(bytes_of(peer), b"", "the client is unnamed");
    fx.net()
        .send(borrow(&client), b"ping".to_vec())
        .unwrap()
        .unwrap();
    assert_eq!(fx.net().recv(borrow(&conn), 10).unwrap().unwrap(), b"ping");
    assert_eq!(
        bytes_of(fx.net().peer_address(borrow(&client)).unwrap().unwrap()),
        path.as_os_str().as_bytes()
    );
}

#[test]
fn every_unix_operation_outside_the_grant_is_denied_and_named() {
    let dir = TempDir::new();
    let mut fx = Fixture::new(dir.policy());
    let sock = fx.unix_socket_of_family();
    let outside = format!("{}-other/x.sock", dir.0.display());

    let err = fx
        .net()
        .bind(borrow(&sock), Address::Unix(outside.clone().into_bytes()))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
    assert_eq!(
        err.message,
        format!("policy denies bind to unix path {outside}")
    );

    let err = fx
        .net()
        .connect(borrow(&sock), Address::Unix(outside.clone().into_bytes()))
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.message,
        format!("policy denies connect to unix path {outside}")
    );

    let escape = format!("{}/../x.sock", dir.0.display());
    let err = fx
        .net()
        .connect(borrow(&sock), Address::Unix(escape.clone().into_bytes()))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(err.message.contains("is never granted"), "{}", err.message);

    let err = fx
        .net()
        .bind(borrow(&sock), Address::Unix(b"\0not-granted".to_vec()))
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.message,
        "policy denies bind to abstract unix name @not-granted"
    );

    // An unbound unix socket would listen on a name the kernel invents.
    let err = fx.net().listen(borrow(&sock), 1).unwrap().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(
        err.message.contains("unnamed unix socket"),
        "{}",
        err.message
    );

    let err = fx
        .net()
        .remove_stale_socket_file(outside.clone().into_bytes())
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
}

#[test]
fn listen_is_checked_with_the_bound_path() {
    // A policy of a single socket file: a socket bound elsewhere cannot exist, so check
    // the listen of a socket bound under a policy that later changed.
    let dir = TempDir::new();
    let path = dir.path("l.sock");
    let mut fx = Fixture::new(dir.policy());
    let sock = fx.unix_socket_of_family();
    fx.net().bind(borrow(&sock), unix(&path)).unwrap().unwrap();
    fx.policy = Policy::new();
    let err = fx.net().listen(borrow(&sock), 1).unwrap().unwrap_err();
    assert_eq!(
        err.message,
        format!("policy denies listen on unix path {}", path.display())
    );
}

#[test]
fn abstract_names_work_when_granted() {
    let name = format!("\0sandloop-test-{}", std::process::id());
    let mut fx = Fixture::new(Policy::new().allow_unix("@sandloop-test-*").unwrap());
    let listener = fx.unix_listener(Address::Unix(name.clone().into_bytes()));
    assert_eq!(
        bytes_of(fx.net().local_address(borrow(&listener)).unwrap().unwrap()),
        name.as_bytes()
    );
    let client = fx.unix_socket_of_family();
    fx.net()
        .connect(borrow(&client), Address::Unix(name.into_bytes()))
        .unwrap()
        .unwrap();
    // No file to remove for an abstract name.
    assert!(
        !fx.net()
            .remove_bound_path(borrow(&listener))
            .unwrap()
            .unwrap()
    );
}

#[test]
fn remove_bound_path_removes_the_file_unless_it_was_replaced() {
    let dir = TempDir::new();
    let path = dir.path("r.sock");
    let mut fx = Fixture::new(dir.policy());

    let first = fx.unix_listener(unix(&path));
    assert!(fx.net().remove_bound_path(borrow(&first)).unwrap().unwrap());
    assert!(!path.exists());
    assert!(!fx.net().remove_bound_path(borrow(&first)).unwrap().unwrap());

    let second = fx.unix_listener(unix(&path));
    // Someone replaces the file while the server runs.
    std::fs::remove_file(&path).unwrap();
    let replacement = UnixListener::bind(&path).unwrap();
    assert!(
        !fx.net()
            .remove_bound_path(borrow(&second))
            .unwrap()
            .unwrap()
    );
    assert!(path.exists(), "the replacement stays");
    drop(replacement);

    let unbound = fx.unix_socket_of_family();
    assert!(
        !fx.net()
            .remove_bound_path(borrow(&unbound))
            .unwrap()
            .unwrap()
    );
}

#[test]
fn a_stale_socket_file_is_removed_anything_else_is_left() {
    let dir = TempDir::new();
    let mut fx = Fixture::new(dir.policy());
    let bytes = |p: &Path| p.as_os_str().as_bytes().to_vec();

    let stale = dir.path("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    assert!(
        fx.net()
            .remove_stale_socket_file(bytes(&stale))
            .unwrap()
            .unwrap()
    );
    assert!(!stale.exists());
    assert!(
        !fx.net()
            .remove_stale_socket_file(bytes(&stale))
            .unwrap()
            .unwrap()
    );

    let regular = dir.path("regular");
    std::fs::write(&regular, b"keep me").unwrap();
    assert!(
        !fx.net()
            .remove_stale_socket_file(bytes(&regular))
            .unwrap()
            .unwrap()
    );
    assert_eq!(std::fs::read(&regular).unwrap(), b"keep me");
    let sock = fx.unix_socket_of_family();
    let err = fx
        .net()
        .bind(borrow(&sock), unix(&regular))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::AddressInUse);
    assert!(
        err.message.contains(&regular.display().to_string()),
        "{}",
        err.message
    );

    // A symbolic link to a socket is not followed and not removed.
    let target = dir.path("target.sock");
    drop(UnixListener::bind(&target).unwrap());
    let link = dir.path("link.sock");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(
        !fx.net()
            .remove_stale_socket_file(bytes(&link))
            .unwrap()
            .unwrap()
    );
    assert!(link.exists() && target.exists());
}

#[test]
fn bad_unix_addresses_get_clear_errors() {
    let dir = TempDir::new();
    let mut fx = Fixture::new(dir.policy());
    let sock = fx.unix_socket_of_family();
    for (addr, words) in [
        (Vec::new(), "empty"),
        (b"/tmp/a\0b".to_vec(), "NUL"),
        (
            format!("{}/{}", dir.0.display(), "x".repeat(200)).into_bytes(),
            "at most 107 bytes",
        ),
    ] {
        let err = fx
            .net()
            .connect(borrow(&sock), Address::Unix(addr))
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains(words), "{}", err.message);
    }
    // A unix path on an IP socket.
    let tcp = fx
        .net()
        .create(AddressFamily::Ipv4, SocketType::Stream)
        .unwrap()
        .unwrap();
    let err = fx
        .net()
        .bind(borrow(&tcp), unix(&dir.path("x.sock")))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
}

#[test]
fn connect_to_a_path_nobody_listens_on_is_refused_or_not_found() {
    let dir = TempDir::new();
    let mut fx = Fixture::new(dir.policy());
    let sock = fx.unix_socket_of_family();
    let err = fx
        .net()
        .connect(borrow(&sock), unix(&dir.path("nobody.sock")))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.message.starts_with("connect unix path "),
        "{}",
        err.message
    );
}

#[test]
fn connect_to_a_full_backlog_says_so_instead_of_in_progress() {
    let dir = TempDir::new();
    let path = dir.path("full.sock");
    let mut fx = Fixture::new(dir.policy());
    let listener = fx.unix_socket_of_family();
    fx.net()
        .bind(borrow(&listener), unix(&path))
        .unwrap()
        .unwrap();
    fx.net().listen(borrow(&listener), 0).unwrap().unwrap();
    // Nobody accepts: the queue fills after a connection or two.
    let mut last = Ok(());
    for _ in 0..8 {
        let client = fx.unix_socket_of_family();
        last = fx.net().connect(borrow(&client), unix(&path)).unwrap();
        if last.is_err() {
            break;
        }
    }
    let err = last.expect_err("the backlog fills up");
    assert_eq!(err.kind, ErrorKind::Other);
    assert!(err.message.contains("backlog is full"), "{}", err.message);
}

#[test]
fn a_unix_datagram_goes_to_a_granted_path_and_not_elsewhere() {
    let dir = TempDir::new();
    let path = dir.path("d.sock");
    let mut fx = Fixture::new(dir.policy());
    let receiver = fx
        .net()
        .create(AddressFamily::Unix, SocketType::Datagram)
        .unwrap()
        .unwrap();
    fx.net()
        .bind(borrow(&receiver), unix(&path))
        .unwrap()
        .expect("bind");
    let sender = fx
        .net()
        .create(AddressFamily::Unix, SocketType::Datagram)
        .unwrap()
        .unwrap();

    let sent = fx
        .net()
        .send_to(borrow(&sender), b"hello".to_vec(), unix(&path))
        .unwrap()
        .expect("send-to a granted path");
    assert_eq!(sent, 5);
    let (data, _from) = fx.net().recv_from(borrow(&receiver), 100).unwrap().unwrap();
    assert_eq!(data, b"hello");

    let outside = format!("{}-other/d.sock", dir.0.display());
    let err = fx
        .net()
        .send_to(
            borrow(&sender),
            b"x".to_vec(),
            Address::Unix(outside.clone().into_bytes()),
        )
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(err.message.contains(&outside), "{}", err.message);
}
