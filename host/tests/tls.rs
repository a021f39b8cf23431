//! TLS (guest program `tls`): handshakes, failures, timeouts, STARTTLS, close_notify,
//! bulk data, extra info and the argument rules, under the real host on loopback.
//!
//! Every case gets certificates made now with rcgen (a CA, a server chain for
//! `localhost` and 127.0.0.1, a CA nobody trusts) in a fresh directory, preopened
//! read-only at `/tls` and granted for unix sockets. Every case runs twice: on the
//! default loop and on a `SelectorEventLoop`, whose TLS transports hand their sockets to
//! the host's completion mode.

mod common;

#[path = "../../xtask/src/dev_cert.rs"]
mod dev_cert;

use std::path::{Path, PathBuf};

use sandloop_host::RunOptions;

/// A fresh directory with the certificates of one case, removed when dropped.
struct CertDir(PathBuf);

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl CertDir {
    fn new() -> CertDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Short: unix socket paths have a 107-byte limit.
        let dir = PathBuf::from(format!("/tmp/sltls-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        let ca = dev_cert::Ca::new("sandloop test CA").expect("a CA");
        let other = dev_cert::Ca::new("a CA nobody trusts").expect("another CA");
        let (chain, key) = ca
            .issue(&["localhost", "127.0.0.1"])
            .expect("a server certificate");
        let write = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"))
        };
        write("ca.pem", &ca.cert_pem);
        write("other-ca.pem", &other.cert_pem);
        write("other-ca.key", &other.key_pem);
        write("server.pem", &chain);
        write("server.key", &key);
        write("combined.pem", &format!("{chain}{key}"));
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
        std::fs::write(dir.join("data.bin"), data).expect("write data.bin");
        CertDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

/// Runs `case` of the `tls` program with fresh certificates, on the selector loop when
/// `selector`.
fn run_tls_case(case: &str, selector: bool) -> common::Outcome {
    let dir = CertDir::new();
    let display = dir.path().display().to_string();
    let policy = common::loopback_policy()
        .preopen(dir.path(), "/tls")
        .allow_unix(&format!("{display}/"))
        .expect("a valid unix rule");
    let ca = std::fs::read_to_string(dir.path().join("ca.pem")).expect("ca.pem");
    let mut env = vec![
        ("TLS_CA_PEM".to_string(), ca),
        ("TLS_UNIX_DIR".to_string(), display),
    ];
    if selector {
        env.push(("TEST_LOOP".into(), "selector".into()));
    }
    common::run_case_with_options(
        "tls",
        case,
        RunOptions {
            env,
            policy,
            ..Default::default()
        },
    )
}

macro_rules! tls_cases {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = crate::run_tls_case(stringify!($case), SELECTOR);
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}

mod default_loop {
    const SELECTOR: bool = false;
    test_programs_artifacts::for_each_quiet_case!("tls", tls_cases);
}

mod selector_loop {
    const SELECTOR: bool = true;
    test_programs_artifacts::for_each_quiet_case!("tls", tls_cases);
}
