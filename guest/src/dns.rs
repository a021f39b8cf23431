//! `getaddrinfo` and `getnameinfo` on the loop: the host resolves on its own threads and
//! the answer arrives through the reactor, so the loop never blocks on a lookup.

use std::net::SocketAddr;

use crate::base_events::EventLoop;
use crate::error::{Error, Result};
use crate::io_registry::IoEntry;
use crate::net::{AddrInfo, Family, SocketType};
use crate::sys::dns as host;
use crate::wakeup::Wakeup;

/// Hints for [`EventLoop::getaddrinfo`] (asyncio's keyword arguments); the default asks for
/// everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct AddrInfoHints {
    /// Only this family (`AF_UNSPEC` when `None`).
    pub family: Option<Family>,
    /// Only this socket type.
    pub socktype: Option<SocketType>,
    /// Only this protocol (0: any).
    pub protocol: u32,
    /// `AI_*` flags (see [`crate::net`]).
    pub flags: i32,
}

/// Removes a lookup's registration if the lookup is dropped before its answer came.
struct Registration {
    lp: EventLoop,
    key: usize,
    wakeup: Wakeup,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.wakeup.fired() && !self.lp.is_closed() {
            self.lp.inner.io.borrow_mut().remove(self.key);
        }
    }
}

fn no_answer() -> Error {
    Error::runtime("the host reported a lookup without its answer")
}

impl EventLoop {
    /// Registers a lookup's token; resolves when its event has come.
    async fn lookup<T>(&self, start: impl FnOnce(u64) -> Result<T>) -> Result<T> {
        self.check_closed()?;
        if !self.selector_watches_host_sources() {
            return Err(Error::runtime(
                "this loop's selector cannot receive host lookups; use the host's reactor",
            ));
        }
        let wakeup = Wakeup::new();
        let handle = wakeup.handle();
        let key = self
            .inner
            .io
            .borrow_mut()
            .insert(IoEntry::Lookup(Some(handle)));
        let registration = Registration {
            lp: self.clone(),
            key,
            wakeup: wakeup.clone(),
        };
        let lookup = match start(key as u64) {
            Ok(lookup) => lookup,
            Err(err) => {
                drop(registration);
                return Err(err);
            }
        };
        wakeup.wait().await;
        drop(registration);
        Ok(lookup)
    }

    /// Resolves `host` and `port` (asyncio's `loop.getaddrinfo`), on the host's threads.
    ///
    /// `host` `None` with `AI_PASSIVE` gives the wildcard addresses; `port` may be a number
    /// or a service name.
    pub async fn getaddrinfo(
        &self,
        host: Option<&str>,
        port: Option<&str>,
        hints: AddrInfoHints,
    ) -> Result<Vec<AddrInfo>> {
        let lookup = self
            .lookup(|token| {
                host::getaddrinfo(
                    host,
                    port,
                    hints.family,
                    hints.socktype,
                    hints.protocol,
                    hints.flags,
                    token,
                )
            })
            .await?;
        lookup.answer().unwrap_or_else(|| Err(no_answer()))
    }

    /// Resolves an IP socket address into `(host, service)` (asyncio's
    /// `loop.getnameinfo`); `flags` are `NI_*` flags.
    pub async fn getnameinfo(&self, addr: SocketAddr, flags: i32) -> Result<(String, String)> {
        let text = addr.to_string();
        let lookup = self
            .lookup(|token| host::getnameinfo(&text, flags, token))
            .await?;
        lookup.answer().unwrap_or_else(|| Err(no_answer()))
    }
}
