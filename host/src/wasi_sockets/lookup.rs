//! `wasi:sockets/ip-name-lookup` as `sandloop:host/dns` answers it: a literal address or a
//! name the policy fixes (`--resolve`) answers at once; any other name is a DNS lookup,
//! which the policy may deny (`--no-dns`, with the same audit line) and which otherwise
//! runs on the instance's resolver threads, never on the loop's thread.

use std::future::poll_fn;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use crate::dns::Resolver;
use crate::error::{Error, ErrorKind};
use crate::policy::Policy;

/// Why a name has no addresses, in the words of `ip-name-lookup`'s error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// The policy denies asking the resolver (`--no-dns`).
    Denied,
    /// Not a name a resolver can be asked about (empty, or with a NUL byte).
    InvalidName,
    /// The instance is at its handle limit.
    LimitReached,
    /// The resolver knows no address for the name.
    Unresolvable,
    /// The resolver failed, perhaps for a while.
    Temporary,
    /// The resolver failed.
    Permanent,
}

impl LookupError {
    fn of(err: &Error) -> LookupError {
        match err.kind {
            ErrorKind::NotFound => LookupError::Unresolvable,
            ErrorKind::WouldBlock | ErrorKind::TimedOut => LookupError::Temporary,
            ErrorKind::InvalidInput => LookupError::InvalidName,
            _ => LookupError::Permanent,
        }
    }
}

/// A lookup in progress or answered: the `resolve-address-stream` the guest holds.
/// Dropping it abandons a lookup still running (its answer is discarded).
pub(crate) struct IpLookup {
    shared: Arc<Mutex<Shared>>,
    /// The answer's addresses not yet handed out, once it is in.
    next: usize,
}

#[derive(Default)]
struct Shared {
    answer: Option<Result<Vec<IpAddr>, LookupError>>,
    /// Woken when the answer comes in (a guest's `wasi:io/poll` waiting on it).
    waker: Option<Waker>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the lookup of `name` under `policy`: answered at once for a literal address
/// or a name the policy fixes, refused at once when the policy denies DNS, asked of
/// `resolver` otherwise.
pub(crate) fn resolve_addresses(
    policy: &Policy,
    resolver: &Resolver,
    name: &str,
) -> Result<IpLookup, LookupError> {
    let literal = name
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(name)
        .parse::<IpAddr>();
    if let Ok(ip) = literal {
        return Ok(IpLookup::answered(vec![ip.to_canonical()]));
    }
    if let Some(addrs) = policy.resolved(name) {
        return Ok(IpLookup::answered(addrs.to_vec()));
    }
    if name.is_empty() || name.contains('\0') {
        return Err(LookupError::InvalidName);
    }
    policy.check_dns(name).map_err(|_| LookupError::Denied)?;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let job = Arc::downgrade(&shared);
    let name = name.to_owned();
    resolver
        .submit(move || {
            if job.strong_count() == 0 {
                return; // abandoned before it started
            }
            let answer = crate::dns::system_addresses(&name).map_err(|err| LookupError::of(&err));
            if let Some(shared) = job.upgrade() {
                let mut shared = lock(&shared);
                shared.answer = Some(answer);
                if let Some(waker) = shared.waker.take() {
                    waker.wake();
                }
            }
        })
        .map_err(|_| LookupError::Temporary)?;
    Ok(IpLookup { shared, next: 0 })
}

impl IpLookup {
    fn answered(addrs: Vec<IpAddr>) -> IpLookup {
        IpLookup {
            shared: Arc::new(Mutex::new(Shared {
                answer: Some(Ok(addrs)),
                waker: None,
            })),
            next: 0,
        }
    }

    /// The next address (`Ok(None)` after the last), or `None` while the answer is not in.
    pub(crate) fn next_address(&mut self) -> Option<Result<Option<IpAddr>, LookupError>> {
        let shared = lock(&self.shared);
        let answer = match shared.answer.as_ref()? {
            Ok(addrs) => Ok(addrs.get(self.next).copied()),
            Err(err) => Err(*err),
        };
        drop(shared);
        if let Ok(Some(_)) = answer {
            self.next += 1;
        }
        Some(answer)
    }

    /// Waits until the answer is in.
    pub(crate) async fn answered_wait(&self) {
        poll_fn(|cx| {
            let mut shared = lock(&self.shared);
            if shared.answer.is_some() {
                return Poll::Ready(());
            }
            shared.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::Reactor;

    fn next_all(lookup: &mut IpLookup) -> Result<Vec<IpAddr>, LookupError> {
        let mut addrs = Vec::new();
        while let Some(ip) = lookup.next_address().expect("answered at once")? {
            addrs.push(ip);
        }
        Ok(addrs)
    }

    #[test]
    fn literals_and_fixed_names_answer_at_once_even_without_dns() {
        let reactor = Reactor::new().unwrap();
        let resolver = Resolver::new(reactor.completer());
        let policy = Policy::new()
            .deny_dns()
            .resolve_name("db.internal", ["10.1.2.3".parse().unwrap()]);
        let lookup =
            |name| resolve_addresses(&policy, &resolver, name).and_then(|mut l| next_all(&mut l));
        assert_eq!(lookup("127.0.0.1"), Ok(vec!["127.0.0.1".parse().unwrap()]));
        assert_eq!(lookup("[::1]"), Ok(vec!["::1".parse().unwrap()]));
        assert_eq!(
            lookup("DB.internal."),
            Ok(vec!["10.1.2.3".parse().unwrap()])
        );
        assert_eq!(lookup("example.com").err(), Some(LookupError::Denied));
        assert_eq!(lookup("").err(), Some(LookupError::InvalidName));
    }
}
