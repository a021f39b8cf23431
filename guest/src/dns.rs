//! `getaddrinfo` and `getnameinfo` on the loop: the host resolves on its own threads and
//! the answer arrives through the reactor, so the loop never blocks on a lookup.

use std::net::SocketAddr;

use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::net::{AddrInfo, Family, SocketType};
use crate::sys::dns as host;

/// Hints for [`EventLoop::getaddrinfo`] (asyncio's keyword arguments); the default asks for
/// everything.
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// use sandloop::AddrInfoHints;
/// use sandloop::net::{Family, SocketType};
/// let hints = AddrInfoHints {
///     family: Some(Family::Inet6),
///     socktype: Some(SocketType::Stream),
///     ..Default::default()
/// };
/// let v6 = lp.getaddrinfo(Some("localhost"), Some("443"), hints).await?;
/// # let _ = v6;
/// # Ok(()) }
/// ```
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

fn no_answer() -> Error {
    Error::runtime("the host reported a lookup without its answer")
}

impl EventLoop {
    /// Resolves `host` and `port` (asyncio's `loop.getaddrinfo`), on the host's threads.
    ///
    /// `host` `None` with `AI_PASSIVE` gives the wildcard addresses; `port` may be a number
    /// or a service name.
    ///
    /// asyncio: `await loop.getaddrinfo("example.com", 80)`.
    ///
    /// ```no_run
    /// use sandloop::AddrInfoHints;
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let hints = AddrInfoHints::default();
    ///     for info in lp.getaddrinfo(Some("localhost"), Some("80"), hints).await? {
    ///         println!("{:?} {:?} {}", info.family, info.socktype, info.address);
    ///     }
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn getaddrinfo(
        &self,
        host: Option<&str>,
        port: Option<&str>,
        hints: AddrInfoHints,
    ) -> Result<Vec<AddrInfo>> {
        let lookup = self
            .host_answer(|token| {
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
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// use std::net::SocketAddr;
    /// let addr = SocketAddr::from(([127, 0, 0, 1], 80));
    /// let (host, service) = lp.getnameinfo(addr, sandloop::net::NI_NUMERICSERV).await?;
    /// println!("{host}:{service}");
    /// # Ok(()) }
    /// ```
    pub async fn getnameinfo(&self, addr: SocketAddr, flags: i32) -> Result<(String, String)> {
        let text = addr.to_string();
        let lookup = self
            .host_answer(|token| host::getnameinfo(&text, flags, token))
            .await?;
        lookup.answer().unwrap_or_else(|| Err(no_answer()))
    }
}
