//! The C library's `getaddrinfo` and `getnameinfo`, with the interface's hints and answers.
//!
//! Both may block for seconds on a slow resolver: the caller runs them on a resolver
//! thread unless the query needs no resolver at all (a literal address and a numeric
//! port), which the C library answers at once.

use std::ffi::{CStr, CString, c_char, c_int};
use std::net::SocketAddr;
use std::ptr;

use socket2::{SockAddr, SockAddrStorage};

use super::{Addrinfo, Hints};
use crate::error::{Error, ErrorKind, error, kind_of};
use crate::net::{Address, AddressFamily, SocketType};

/// glibc's `EAI_ADDRFAMILY` ("address family for hostname not supported"), which the
/// `libc` crate does not define.
const EAI_ADDRFAMILY: c_int = -9;

/// The longest service name `getnameinfo` writes (glibc's `NI_MAXSERV`).
const NI_MAXSERV: usize = 32;

/// One `getaddrinfo` call. `label` names the query in error messages (`host:port`).
pub(super) fn getaddrinfo(
    host: Option<&CStr>,
    service: Option<&CStr>,
    hints: &Hints,
    label: &str,
) -> Result<Vec<Addrinfo>, Error> {
    let protocol = c_int::try_from(hints.protocol).map_err(|_| {
        error(
            ErrorKind::InvalidInput,
            format!(
                "getaddrinfo {label}: protocol {} is out of range",
                hints.protocol
            ),
        )
    })?;
    // SAFETY: all zeros is a valid `addrinfo` (null pointers, zero numbers).
    let mut c_hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    c_hints.ai_family = match hints.family {
        None => libc::AF_UNSPEC,
        Some(AddressFamily::Ipv4) => libc::AF_INET,
        Some(AddressFamily::Ipv6) => libc::AF_INET6,
        Some(AddressFamily::Unix) => libc::AF_UNIX,
    };
    c_hints.ai_socktype = match hints.socktype {
        None => 0,
        Some(SocketType::Stream) => libc::SOCK_STREAM,
        Some(SocketType::Datagram) => libc::SOCK_DGRAM,
    };
    c_hints.ai_protocol = protocol;
    c_hints.ai_flags = hints.flags;

    let mut list: *mut libc::addrinfo = ptr::null_mut();
    // SAFETY: the strings are NUL-terminated or null, the hints are initialized, and
    // `list` receives a list that is freed below.
    let rc = unsafe {
        libc::getaddrinfo(
            host.map_or(ptr::null(), CStr::as_ptr),
            service.map_or(ptr::null(), CStr::as_ptr),
            &c_hints,
            &mut list,
        )
    };
    if rc != 0 {
        return Err(gai_error("getaddrinfo", label, rc));
    }

    let mut answers = Vec::new();
    let mut canonname = String::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getaddrinfo returned, not yet freed.
        let ai = unsafe { &*entry };
        entry = ai.ai_next;
        if !ai.ai_canonname.is_null() && canonname.is_empty() {
            // SAFETY: a non-null `ai_canonname` is a NUL-terminated string of the list.
            canonname = unsafe { CStr::from_ptr(ai.ai_canonname) }
                .to_string_lossy()
                .into_owned();
        }
        // Raw sockets and unknown families have no WIT form; they are left out.
        let socktype = match ai.ai_socktype {
            libc::SOCK_STREAM => SocketType::Stream,
            libc::SOCK_DGRAM => SocketType::Datagram,
            _ => continue,
        };
        // SAFETY: `ai_addr` points to `ai_addrlen` bytes of a socket address.
        let Some(addr) = (unsafe { socket_addr(ai.ai_addr, ai.ai_addrlen) }) else {
            continue;
        };
        let family = match addr {
            SocketAddr::V4(_) => AddressFamily::Ipv4,
            SocketAddr::V6(_) => AddressFamily::Ipv6,
        };
        answers.push(Addrinfo {
            family,
            socktype,
            protocol: u32::try_from(ai.ai_protocol).unwrap_or(0),
            // As the C library does: the canonical name rides on the first answer.
            canonname: if answers.is_empty() {
                std::mem::take(&mut canonname)
            } else {
                String::new()
            },
            address: Address::Inet(addr.to_string()),
        });
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(list) };
    Ok(answers)
}

/// Copies a C socket address into a Rust one; `None` for anything but IPv4 and IPv6.
///
/// # Safety
/// `addr` must point to `len` readable bytes.
unsafe fn socket_addr(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    if addr.is_null() {
        return None;
    }
    let mut storage = SockAddrStorage::zeroed();
    let len = len.min(storage.size_of());
    // SAFETY: `len` fits both the source (the caller's promise) and the storage.
    unsafe {
        ptr::copy_nonoverlapping(
            addr.cast::<u8>(),
            (&mut storage as *mut SockAddrStorage).cast::<u8>(),
            len as usize,
        );
        SockAddr::new(storage, len)
    }
    .as_socket()
}

/// One `getnameinfo` call: `(host, service)`.
pub(super) fn getnameinfo(addr: &SocketAddr, flags: c_int) -> Result<(String, String), Error> {
    let sockaddr = SockAddr::from(*addr);
    let mut host = [0 as c_char; libc::NI_MAXHOST as usize];
    let mut service = [0 as c_char; NI_MAXSERV];
    // SAFETY: the address is valid for its length and the buffers for theirs.
    let rc = unsafe {
        libc::getnameinfo(
            sockaddr.as_ptr().cast::<libc::sockaddr>(),
            sockaddr.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            service.as_mut_ptr(),
            service.len() as libc::socklen_t,
            flags,
        )
    };
    if rc != 0 {
        return Err(gai_error("getnameinfo", &addr.to_string(), rc));
    }
    // SAFETY: on success both buffers hold NUL-terminated strings.
    let text = |buf: &[c_char]| {
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok((text(&host), text(&service)))
}

/// A `getaddrinfo`/`getnameinfo` failure as a WIT error naming the query.
fn gai_error(op: &str, label: &str, rc: c_int) -> Error {
    if rc == libc::EAI_SYSTEM {
        let err = std::io::Error::last_os_error();
        return error(kind_of(&err), format!("{op} {label}: {err}"));
    }
    let kind = match rc {
        libc::EAI_NONAME | libc::EAI_NODATA | libc::EAI_SERVICE | EAI_ADDRFAMILY => {
            ErrorKind::NotFound
        }
        libc::EAI_FAMILY | libc::EAI_SOCKTYPE | libc::EAI_BADFLAGS => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    };
    // SAFETY: gai_strerror returns a static NUL-terminated string for any code.
    let words = unsafe { CStr::from_ptr(libc::gai_strerror(rc)) }.to_string_lossy();
    error(kind, format!("{op} {label}: {words}"))
}

/// A WIT string as a C string, or an invalid-input error naming `what`.
pub(super) fn c_string(op: &str, what: &str, text: &str) -> Result<CString, Error> {
    CString::new(text).map_err(|_| {
        error(
            ErrorKind::InvalidInput,
            format!("{op}: the {what} {text:?} contains a NUL byte"),
        )
    })
}
