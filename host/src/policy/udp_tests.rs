//! The datagram rules: `allow_udp_bind` and `allow_udp_send`, apart from the stream rules.

use std::net::SocketAddr;

use super::*;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn udp_bind_rules_grant_only_datagram_binds() {
    let policy = Policy::new().allow_udp_bind("127.0.0.1:*").unwrap();

    assert!(policy.check_udp_bind(&addr("127.0.0.1:0")).is_ok());
    assert!(policy.check_udp_bind(&addr("127.0.0.1:9999")).is_ok());
    assert!(policy.check_udp_bind(&addr("127.0.0.2:9999")).is_err());
    // A stream bind or listen is not a datagram bind.
    assert!(policy.check_bind(&addr("127.0.0.1:9999")).is_err());
    assert!(policy.check_listen(&addr("127.0.0.1:9999")).is_err());
}

#[test]
fn udp_bind_to_port_zero_needs_a_rule_that_includes_zero() {
    let policy = Policy::new().allow_udp_bind("127.0.0.1:9999").unwrap();

    assert!(policy.check_udp_bind(&addr("127.0.0.1:9999")).is_ok());
    assert!(policy.check_udp_bind(&addr("127.0.0.1:0")).is_err());
}

#[test]
fn udp_send_rules_grant_only_datagram_sends() {
    let policy = Policy::new().allow_udp_send("10.0.0.0/8:53").unwrap();

    assert!(policy.check_udp_send(&addr("10.0.0.1:53")).is_ok());
    assert!(policy.check_udp_send(&addr("10.0.0.1:54")).is_err());
    assert!(policy.check_connect(&addr("10.0.0.1:53")).is_err());
}

#[test]
fn stream_rules_do_not_grant_datagrams() {
    let policy = Policy::new()
        .allow_listen("*:*")
        .unwrap()
        .allow_connect("*:*")
        .unwrap();

    assert!(policy.check_udp_bind(&addr("127.0.0.1:0")).is_err());
    assert!(policy.check_udp_send(&addr("127.0.0.1:53")).is_err());
}

#[test]
fn udp_denials_name_the_operation_and_the_address() {
    let policy = Policy::new();

    let bind = policy.check_udp_bind(&addr("127.0.0.1:9")).unwrap_err();
    let send = policy.check_udp_send(&addr("10.0.0.1:53")).unwrap_err();

    assert_eq!(bind.operation, Operation::UdpBind);
    assert_eq!(bind.to_string(), "policy denies udp bind to 127.0.0.1:9");
    assert_eq!(send.operation, Operation::UdpSend);
    assert_eq!(send.to_string(), "policy denies udp send to 10.0.0.1:53");
    assert_eq!(
        policy
            .check_udp_send(&addr("[::1]:5353"))
            .unwrap_err()
            .to_string(),
        "policy denies udp send to [::1]:5353"
    );
}

#[test]
fn malformed_udp_rules_are_refused() {
    assert!(Policy::new().allow_udp_bind("nonsense").is_err());
    assert!(Policy::new().allow_udp_send("::1:53").is_err());
}
