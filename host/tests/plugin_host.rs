//! The plugin-host example (host/examples/plugin_host.rs) does what it says: two plugins
//! under different policies, every call answered as expected, host functions included.

mod common;

#[allow(dead_code)]
#[path = "../examples/plugin_host.rs"]
mod plugin_host;

#[test]
fn the_plugin_host_example_gets_every_expected_answer() {
    let checks = common::within(
        "the plugin-host example",
        common::PATIENCE,
        plugin_host::run,
    )
    .expect("the example runs");

    for check in &checks {
        assert!(check.ok, "{}: {}", check.call, check.answer);
    }
    let calls: Vec<_> = checks.iter().map(|c| c.call.as_str()).collect();
    assert!(calls.contains(&"sandboxed fetch(service)"), "{calls:?}");
    assert!(
        calls.contains(&"sandboxed lookup(7) -> host user.lookup"),
        "{calls:?}"
    );
    assert_eq!(checks.len(), 11);
}
