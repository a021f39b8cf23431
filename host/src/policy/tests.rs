//! Parsing and matching of policy rules.

use std::net::SocketAddr;

use super::*;

fn rule(text: &str) -> AddrRule {
    text.parse()
        .unwrap_or_else(|e| panic!("{text} should parse: {e}"))
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn parse_error(text: &str) -> String {
    match text.parse::<AddrRule>() {
        Ok(rule) => panic!("{text} should not parse, got {rule}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn every_rule_form_parses_and_prints_back() {
    for text in [
        "127.0.0.1:8080",
        "10.0.0.0/8:*",
        "0.0.0.0/0:1-1024",
        "[::1]:80",
        "[fd00::]/8:443",
        "*:*",
        "*:53",
    ] {
        assert_eq!(rule(text).to_string(), text);
    }
}

#[test]
fn single_address_rule_matches_only_that_address_and_ports() {
    let r = rule("127.0.0.1:8000-8999");

    assert!(r.matches(&addr("127.0.0.1:8000")));
    assert!(r.matches(&addr("127.0.0.1:8999")));
    assert!(!r.matches(&addr("127.0.0.1:9000")));
    assert!(!r.matches(&addr("127.0.0.2:8000")));
    assert!(!r.matches(&addr("[::1]:8000")));
}

#[test]
fn cidr_rule_matches_its_network() {
    let r = rule("10.0.0.0/8:443");

    assert!(r.matches(&addr("10.255.1.2:443")));
    assert!(!r.matches(&addr("11.0.0.1:443")));
    assert!(rule("0.0.0.0/0:443").matches(&addr("192.0.2.1:443")));
    assert!(!rule("0.0.0.0/0:443").matches(&addr("[::1]:443")));
}

#[test]
fn ipv6_rules_match_ipv6_addresses() {
    assert!(rule("[::1]:*").matches(&addr("[::1]:5000")));
    assert!(!rule("[::1]:*").matches(&addr("127.0.0.1:5000")));
    assert!(rule("[fd00::]/8:*").matches(&addr("[fdab::1]:1")));
    assert!(!rule("[fd00::]/8:*").matches(&addr("[fe80::1]:1")));
}

#[test]
fn star_matches_every_address_of_both_families() {
    let r = rule("*:443");

    assert!(r.matches(&addr("203.0.113.9:443")));
    assert!(r.matches(&addr("[2001:db8::1]:443")));
    assert!(!r.matches(&addr("203.0.113.9:80")));
}

#[test]
fn ipv4_mapped_ipv6_addresses_match_as_ipv4() {
    assert!(rule("127.0.0.1:80").matches(&addr("[::ffff:127.0.0.1]:80")));
    assert!(!rule("[::1]:80").matches(&addr("[::ffff:127.0.0.1]:80")));
    // A rule written on the mapped range is the IPv4 rule.
    assert_eq!(rule("[::ffff:10.0.0.0]/104:*"), rule("10.0.0.0/8:*"));
}

#[test]
fn port_zero_matches_only_ranges_that_include_it() {
    assert!(rule("127.0.0.1:*").matches(&addr("127.0.0.1:0")));
    assert!(rule("127.0.0.1:0-100").matches(&addr("127.0.0.1:0")));
    assert!(!rule("127.0.0.1:1-65535").matches(&addr("127.0.0.1:0")));
    assert!(!rule("127.0.0.1:8080").matches(&addr("127.0.0.1:0")));
}

#[test]
fn malformed_rules_say_what_is_wrong() {
    let cases = [
        ("127.0.0.1", "expected ADDR:PORTS"),
        ("", "expected ADDR:PORTS"),
        ("localhost:80", "is not an IPv4 address"),
        ("::1:80", "write it in brackets"),
        ("[::1:80", "needs a `]`"),
        ("[::1]80", "expected ADDR:PORTS"),
        ("[nope]:80", "is not an IPv6 address"),
        ("10.0.0.0/33:80", "prefix length"),
        ("[::]/129:80", "prefix length"),
        ("10.1.2.3/8:80", "did you mean 10.0.0.0/8"),
        ("127.0.0.1:", "no ports"),
        ("127.0.0.1:70000", "is not a port"),
        ("127.0.0.1:90-80", "is empty"),
        ("127.0.0.1:a-b", "is not a port"),
    ];
    for (text, expected) in cases {
        let message = parse_error(text);
        assert!(
            message.contains(expected),
            "{text:?}: {message:?} should contain {expected:?}"
        );
        assert!(
            message.contains(&format!("{text:?}")),
            "{message:?} names the input"
        );
    }
}

#[test]
fn default_policy_denies_everything() {
    let policy = Policy::default();

    assert!(policy.check_listen(&addr("127.0.0.1:8080")).is_err());
    assert!(policy.check_bind(&addr("127.0.0.1:0")).is_err());
    assert!(policy.check_connect(&addr("127.0.0.1:80")).is_err());
    assert!(policy.resolved("localhost").is_none());
}

#[test]
fn denials_name_the_operation_and_the_address() {
    let policy = Policy::new().allow_connect("127.0.0.1:*").unwrap();

    let listen = policy.check_listen(&addr("0.0.0.0:8080")).unwrap_err();
    let bind = policy.check_bind(&addr("0.0.0.0:8080")).unwrap_err();
    let connect = policy.check_connect(&addr("10.1.2.3:80")).unwrap_err();

    assert_eq!(listen.to_string(), "policy denies listen on 0.0.0.0:8080");
    assert_eq!(bind.to_string(), "policy denies bind to 0.0.0.0:8080");
    assert_eq!(connect.to_string(), "policy denies connect to 10.1.2.3:80");
    assert_eq!(connect.operation, Operation::Connect);
}

#[test]
fn builder_adds_rules_and_reports_bad_ones() {
    let policy = Policy::new()
        .allow_listen("127.0.0.1:*")
        .and_then(|p| p.allow_connect("[::1]:443"))
        .unwrap();
    assert!(policy.check_listen(&addr("127.0.0.1:0")).is_ok());
    assert!(policy.check_connect(&addr("[::1]:443")).is_ok());
    assert!(policy.check_connect(&addr("127.0.0.1:443")).is_err());

    assert!(Policy::new().allow_listen("nonsense").is_err());
}

#[test]
fn resolve_overrides_parse_and_match_names_loosely() {
    let entry: ResolveOverride = "Multi.Local=::1,127.0.0.1,[::2]".parse().unwrap();
    assert_eq!(entry.name, "Multi.Local");
    assert_eq!(entry.addrs.len(), 3);

    let policy = Policy::new().resolve_name(entry.name, entry.addrs);

    assert_eq!(policy.resolved("multi.local").map(<[_]>::len), Some(3));
    assert_eq!(policy.resolved("MULTI.LOCAL.").map(<[_]>::len), Some(3));
    assert!(policy.resolved("other.local").is_none());
    assert_eq!(
        policy.name_of("127.0.0.1".parse().unwrap()),
        Some("multi.local")
    );
}

#[test]
fn malformed_resolve_overrides_are_refused() {
    for text in [
        "nameonly",
        "=1.2.3.4",
        "host=",
        "host=1.2.3.4,",
        "host=nope",
    ] {
        assert!(
            text.parse::<ResolveOverride>().is_err(),
            "{text:?} should not parse"
        );
    }
}

#[test]
fn preopens_parse_with_and_without_a_guest_path() {
    let both: Preopen = "./public::/www".parse().unwrap();
    assert_eq!(both, Preopen::new("./public", "/www"));
    assert_eq!(both.to_string(), "./public::/www");
    let same: Preopen = "/srv/data".parse().unwrap();
    assert_eq!(same, Preopen::new("/srv/data", "/srv/data"));
    for bad in ["", "::/www", "./public::"] {
        let err = bad.parse::<Preopen>().unwrap_err().to_string();
        assert!(err.contains(bad), "{bad:?}: {err}");
    }
}
