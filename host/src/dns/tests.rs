//! Lookups through the trait methods the guest calls, answered through the reactor.

use std::net::SocketAddr;

use wasmtime::component::Resource;

use super::NameLookup;
use crate::bindings::dns::{Addrinfo, Hints, Host as _, HostAddressLookup, HostNameLookup};
use crate::bindings::net::SocketType;
use crate::bindings::reactor::Interest;
use crate::bindings::types::{Address, AddressFamily, Error, ErrorKind};
use crate::policy::Policy;
use crate::testing::{Fixture, borrow};

fn hints(family: Option<AddressFamily>, flags: i32) -> Hints {
    Hints {
        family,
        socktype: Some(SocketType::Stream),
        protocol: 0,
        flags,
    }
}

fn addresses(answers: &[Addrinfo]) -> Vec<SocketAddr> {
    answers
        .iter()
        .map(|a| match &a.address {
            Address::Inet(text) => text.parse().unwrap(),
            Address::Unix(_) => panic!("an IP lookup answers IP addresses"),
        })
        .collect()
}

impl Fixture {
    /// Starts a getaddrinfo and returns its answer once its event came.
    fn resolve(&mut self, host: &str, port: &str, hints: Hints) -> Result<Vec<Addrinfo>, Error> {
        let lookup = self
            .dns()
            .getaddrinfo(Some(host.into()), Some(port.into()), hints, 11)
            .expect("no trap")
            .expect("getaddrinfo starts");
        let event = self.next_event(11);
        assert_eq!(event.readiness, Interest::READABLE);
        HostAddressLookup::answer(&mut self.dns(), borrow(&lookup))
            .unwrap()
            .expect("answered once the event came")
    }
}

#[test]
fn localhost_is_resolved_on_a_host_thread_and_reported_through_wait() {
    let mut fx = Fixture::new(Policy::default());

    let answers = fx.resolve("localhost", "8080", hints(None, 0)).unwrap();

    assert!(!answers.is_empty());
    for addr in addresses(&answers) {
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(addr.port(), 8080);
    }
    assert!(answers.iter().all(|a| a.socktype == SocketType::Stream));
}

#[test]
fn resolve_override_answers_with_the_listed_addresses_in_order() {
    let policy = Policy::new().resolve_name(
        "localhost-multi",
        ["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()],
    );
    let mut fx = Fixture::new(policy);

    let all = fx
        .resolve("localhost-multi", "80", hints(None, libc::AI_CANONNAME))
        .unwrap();
    let v4 = fx
        .resolve("LOCALHOST-MULTI", "80", hints(Some(AddressFamily::Ipv4), 0))
        .unwrap();

    assert_eq!(
        addresses(&all),
        ["[::1]:80".parse().unwrap(), "127.0.0.1:80".parse().unwrap()]
    );
    assert_eq!(all[0].canonname, "localhost-multi");
    assert_eq!(addresses(&v4), ["127.0.0.1:80".parse().unwrap()]);
}

#[test]
fn resolve_override_without_the_requested_family_is_not_found() {
    let policy = Policy::new().resolve_name("v4-only", ["10.0.0.1".parse().unwrap()]);
    let mut fx = Fixture::new(policy);

    let err = fx
        .resolve("v4-only", "80", hints(Some(AddressFamily::Ipv6), 0))
        .unwrap_err();

    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("v4-only"), "{}", err.message);
}

#[test]
fn literal_address_is_answered_without_a_resolver() {
    let mut fx = Fixture::new(Policy::default());

    let answers = fx.resolve("::1", "443", hints(None, 0)).unwrap();

    assert_eq!(addresses(&answers), ["[::1]:443".parse().unwrap()]);
    assert_eq!(answers[0].family, AddressFamily::Ipv6);
}

#[test]
fn a_name_that_cannot_be_resolved_is_not_found_and_named() {
    let mut fx = Fixture::new(Policy::default());

    // AI_NUMERICHOST makes the C library refuse a name without asking any server.
    let err = fx
        .resolve("no-such-host", "80", hints(None, libc::AI_NUMERICHOST))
        .unwrap_err();

    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.message.starts_with("getaddrinfo no-such-host:80: "),
        "{}",
        err.message
    );
}

#[test]
fn getnameinfo_answers_numeric_queries_and_policy_names() {
    let policy = Policy::new().resolve_name("db.internal", ["10.9.8.7".parse().unwrap()]);
    let mut fx = Fixture::new(policy);
    let numeric = libc::NI_NUMERICHOST | libc::NI_NUMERICSERV;

    let plain = fx
        .dns()
        .getnameinfo("127.0.0.1:80".into(), numeric, 1)
        .unwrap()
        .unwrap();
    let named = fx
        .dns()
        .getnameinfo("10.9.8.7:5432".into(), libc::NI_NUMERICSERV, 2)
        .unwrap()
        .unwrap();
    let mut tokens: Vec<u64> = fx.wait(Some(0)).iter().map(|e| e.token).collect();
    tokens.sort();

    assert_eq!(tokens, [1, 2]);
    let answer = |fx: &mut Fixture, lookup: &Resource<NameLookup>| {
        HostNameLookup::answer(&mut fx.dns(), borrow(lookup))
            .unwrap()
            .unwrap()
            .unwrap()
    };
    assert_eq!(answer(&mut fx, &plain), ("127.0.0.1".into(), "80".into()));
    assert_eq!(
        answer(&mut fx, &named),
        ("db.internal".into(), "5432".into())
    );
}

#[test]
fn malformed_getnameinfo_address_is_invalid_input() {
    let mut fx = Fixture::new(Policy::default());

    let err = fx
        .dns()
        .getnameinfo("localhost".into(), 0, 1)
        .unwrap()
        .unwrap_err();

    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("\"localhost\""), "{}", err.message);
}

#[test]
fn getaddrinfo_refuses_nul_bytes_and_empty_queries() {
    let mut fx = Fixture::new(Policy::default());

    let nul = fx
        .dns()
        .getaddrinfo(Some("bad\0host".into()), None, hints(None, 0), 1)
        .unwrap()
        .unwrap_err();
    let empty = fx
        .dns()
        .getaddrinfo(None, None, hints(None, 0), 1)
        .unwrap()
        .unwrap_err();

    assert_eq!(nul.kind, ErrorKind::InvalidInput);
    assert_eq!(empty.kind, ErrorKind::InvalidInput);
}

#[test]
fn a_dropped_lookup_handle_traps_instead_of_panicking() {
    let mut fx = Fixture::new(Policy::default());
    let lookup = fx
        .dns()
        .getaddrinfo(Some("127.0.0.1".into()), None, hints(None, 0), 5)
        .unwrap()
        .unwrap();

    HostAddressLookup::drop(&mut fx.dns(), Resource::new_own(lookup.rep())).unwrap();

    assert!(HostAddressLookup::answer(&mut fx.dns(), borrow(&lookup)).is_err());
}

#[test]
fn without_dns_names_are_denied_but_literals_and_fixed_names_answer() {
    let policy = Policy::default()
        .deny_dns()
        .resolve_name("db.internal", ["10.0.0.7".parse().unwrap()]);
    let mut fx = Fixture::new(policy);

    let denied = fx
        .dns()
        .getaddrinfo(
            Some("example.com".into()),
            Some("80".into()),
            hints(None, 0),
            1,
        )
        .unwrap()
        .unwrap_err();
    let reverse = fx
        .dns()
        .getnameinfo("127.0.0.1:80".into(), 0, 2)
        .unwrap()
        .unwrap_err();
    let literal = fx.resolve("127.0.0.1", "80", hints(None, 0)).unwrap();
    let fixed = fx.resolve("db.internal", "5432", hints(None, 0)).unwrap();

    assert_eq!(denied.kind, ErrorKind::Denied);
    assert_eq!(denied.message, "policy denies DNS lookup of example.com");
    assert_eq!(reverse.kind, ErrorKind::Denied);
    assert_eq!(reverse.message, "policy denies DNS lookup of 127.0.0.1");
    assert_eq!(addresses(&literal), ["127.0.0.1:80".parse().unwrap()]);
    assert_eq!(addresses(&fixed), ["10.0.0.7:5432".parse().unwrap()]);
}
