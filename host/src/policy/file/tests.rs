//! The policy file's parser: every key, the defaults, and the errors' words.

use std::net::SocketAddr;

use super::{PolicyFile, PolicyFileError};
use crate::policy::{UnixOperation, UnixTarget};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn invalid(text: &str) -> String {
    match PolicyFile::parse(text) {
        Err(PolicyFileError::Invalid { message, .. }) => message,
        Err(other) => panic!("expected an invalid file, got {other}"),
        Ok(_) => panic!("expected an invalid file, it parsed:\n{text}"),
    }
}

const FULL: &str = r#"
[network]
connect = ["127.0.0.1:8080", "10.0.0.0/8:443", "[::1]:1000-2000"]
listen = ["127.0.0.1:*"]
udp_bind = ["127.0.0.1:9999"]
udp_send = ["10.0.0.1:53"]
unix = ["/run/app/", "@abstract*"]
dns = false
[network.resolve]
"db.internal" = ["10.0.0.7", "::1"]
[process]
exec = ["/usr/bin/sort"]
shell = true
child_env = ["LANG"]
[signals]
allow = ["SIGINT", "term", 1]
[host_functions]
allow = ["db.get", "clock"]
[env]
set = { TEST_LOOP = "selector", B = "x=y" }
inherit = ["HOME"]
[[dirs]]
host = "./www"
guest = "/www"
[[dirs]]
host = "/tmp/out"
writable = true
"#;

#[test]
fn every_key_lands_in_the_policy_or_the_environment() {
    let file = PolicyFile::parse(FULL).unwrap();
    let p = &file.policy;

    assert!(p.check_connect(&addr("127.0.0.1:8080")).is_ok());
    assert!(p.check_connect(&addr("10.2.3.4:443")).is_ok());
    assert!(p.check_connect(&addr("[::1]:1500")).is_ok());
    assert!(p.check_connect(&addr("[::1]:999")).is_err());
    assert!(p.check_listen(&addr("127.0.0.1:0")).is_ok());
    assert!(p.check_udp_bind(&addr("127.0.0.1:9999")).is_ok());
    assert!(p.check_udp_send(&addr("10.0.0.1:53")).is_ok());
    assert!(p.check_udp_send(&addr("10.0.0.2:53")).is_err());
    let abstract_name = UnixTarget::Abstract(b"abstract-1".to_vec());
    assert!(p.check_unix(UnixOperation::Connect, &abstract_name).is_ok());
    assert!(p.deny_dns);
    assert_eq!(p.resolved("DB.internal").map(<[_]>::len), Some(2));
    assert_eq!(p.allow_exec.len(), 1);
    assert!(p.allow_shell);
    assert_eq!(p.child_env, ["LANG"]);
    assert_eq!(p.allow_signals, [2, 15, 1]);
    assert_eq!(p.allow_host_functions, ["db.get", "clock"]);
    assert!(p.check_host_function("db.get").is_ok());
    assert_eq!(p.preopens.len(), 2);
    assert_eq!(p.preopens[0].host, std::path::PathBuf::from("./www"));
    assert_eq!(p.preopens[0].guest, "/www");
    assert!(!p.preopens[0].writable);
    assert_eq!(
        p.preopens[1].guest, "/tmp/out",
        "the guest path defaults to the host's"
    );
    assert!(p.preopens[1].writable);
    assert_eq!(
        file.env,
        [
            ("B".into(), "x=y".into()),
            ("TEST_LOOP".into(), "selector".into())
        ]
    );
    assert_eq!(file.env_inherit, ["HOME"]);
}

#[test]
fn an_empty_file_grants_nothing_and_keeps_dns() {
    let file = PolicyFile::parse("").unwrap();

    assert!(file.policy.check_connect(&addr("127.0.0.1:80")).is_err());
    assert!(file.policy.check_listen(&addr("127.0.0.1:0")).is_err());
    assert!(!file.policy.deny_dns);
    assert!(!file.policy.allow_shell);
    assert!(file.policy.preopens.is_empty());
    assert!(file.env.is_empty() && file.env_inherit.is_empty());
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let message = invalid("[network]\nconnect = []\nconect = [\"127.0.0.1:80\"]\n");

    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("unknown field `conect`"), "{message}");
}

#[test]
fn an_unknown_table_is_an_error() {
    let message = invalid("[netwerk]\nconnect = []\n");

    assert!(message.contains("line 1"), "{message}");
    assert!(message.contains("`netwerk`"), "{message}");
}

#[test]
fn an_unknown_key_in_a_dir_is_an_error() {
    let message = invalid("[[dirs]]\nhost = \"/tmp\"\nwriteable = true\n");

    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("`writeable`"), "{message}");
}

#[test]
fn a_bad_rule_names_its_value_and_the_line_of_its_key() {
    // toml locates an element's error at its array, so the value itself is named too.
    let message = invalid("[network]\nlisten = [\n  \"127.0.0.1:*\",\n  \"10.0.0.1/8:80\",\n]\n");

    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("10.0.0.1/8:80"), "{message}");
    assert!(message.contains("did you mean 10.0.0.0/8"), "{message}");
}

#[test]
fn bad_values_of_every_kind_are_refused() {
    for (text, words) in [
        ("[process]\nexec = [\"sort\"]\n", "sort"),
        ("[signals]\nallow = [\"SIGNOPE\"]\n", "SIGNOPE"),
        ("[signals]\nallow = [99999]\n", "99999"),
        (
            "[signals]\nallow = [\"SIGKILL\"]\n",
            "SIGKILL can never be handled",
        ),
        ("[signals]\nallow = [19]\n", "SIGSTOP can never be handled"),
        (
            "[host_functions]\nallow = [\"\"]\n",
            "a host function's name cannot be empty",
        ),
        ("[host_functions]\nallow = [1]\n", "string"),
        ("[limits]\nhandles = 0\n", "handle limit of 0"),
        (
            "[limits]\ncallback_time_ms = 0\n",
            "callback time limit of 0",
        ),
        ("[limits]\nmemory = 0\n", "memory limit of 0"),
        (
            "[limits]\nmemory = \"5G\"\n",
            "more than a wasm32 memory can ever hold",
        ),
        ("[network.resolve]\n\"db\" = [\"not-an-ip\"]\n", "not-an-ip"),
        ("[network]\nunix = [\"@\"]\n", "@"),
        ("[[dirs]]\nhost = \"\"\n", "HOST_DIR"),
        ("[network]\ndns = \"no\"\n", "dns"),
        ("[env]\nset = { \"A=B\" = \"1\" }\n", "A=B"),
        ("[network]\nconnect = \"127.0.0.1:80\"\n", "sequence"),
        ("[[dirs]]\nguest = \"/www\"\n", "host"),
    ] {
        let message = invalid(text);
        assert!(message.contains(words), "{text:?}: {message}");
    }
}

#[test]
fn a_bad_resolve_entry_names_its_line() {
    let message = invalid("[network.resolve]\n\"ok\" = [\"10.0.0.1\"]\n\"db\" = [\"x\"]\n");

    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("\"db\""), "{message}");
}

#[test]
fn a_missing_file_names_the_path() {
    let err = PolicyFile::load("/nonexistent/policy.toml").unwrap_err();

    assert!(matches!(err, PolicyFileError::Read { .. }));
    assert!(
        err.to_string().contains("/nonexistent/policy.toml"),
        "{err}"
    );
}

#[test]
fn a_loaded_file_names_its_path_in_errors() {
    let dir = std::env::temp_dir().join(format!("sandloop-policy-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[network]\nlisten = [\"nope\"]\n").unwrap();

    let err = PolicyFile::load(&path).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();

    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("line 2") && err.contains("\"nope\""), "{err}");
}

#[test]
fn the_documented_example_parses() {
    let doc = include_str!("../../../../docs/policy.md");
    let example = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/policy.md has a TOML example");

    let file = PolicyFile::parse(example).unwrap();

    assert!(file.policy.deny_dns);
    assert!(file.policy.check_listen(&addr("[::1]:8080")).is_ok());
    assert_eq!(file.policy.resolved("localhost").map(<[_]>::len), Some(2));
    assert_eq!(file.policy.preopens.len(), 2);
    assert!(file.policy.preopens[1].writable);
    assert_eq!(file.env_inherit, ["HOME", "TZ"]);
    assert_eq!(file.policy.limits.buffered_bytes, Some(16 << 20));
}

#[test]
fn limits_take_sizes_as_numbers_or_with_a_suffix() {
    let file = PolicyFile::parse(
        "[limits]\nmemory = \"64M\"\ncallback_time_ms = 250\nhandles = 100\nbuffered = 4096\nchildren = 3\n",
    )
    .unwrap();
    let limits = file.policy.limits;
    assert_eq!(limits.memory_bytes, Some(64 << 20));
    assert_eq!(
        limits.callback_cpu,
        Some(std::time::Duration::from_millis(250))
    );
    assert_eq!(limits.handles, Some(100));
    assert_eq!(limits.buffered_bytes, Some(4096));
    assert_eq!(limits.children, Some(3));
    assert_eq!(
        PolicyFile::parse("").unwrap().policy.limits,
        crate::policy::Limits::default()
    );
    let err = invalid("[limits]\nmemory = \"lots\"\n");
    assert!(err.contains("lots"), "{err}");
    let err = invalid("[limits]\nstack = 1\n");
    assert!(err.contains("stack"), "{err}");
}
