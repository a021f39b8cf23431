// Over 600 lines: the `Policy` type, its builder and its address checks are one contract, read
// together; every other kind of rule has a file of its own under policy/.
//! The capabilities of one workload: which addresses it may listen on and connect to,
//! where it may bind datagram sockets and send datagrams, which unix socket paths and
//! abstract names it may use (see [`UnixRule`]), and which names resolve to fixed addresses.
//!
//! Deny by default: [`Policy::default`] grants nothing. Every check that fails is logged
//! as an audit line (`tracing` target `sandloop::audit`, level warn) naming the operation
//! and the address, and the guest gets an error of kind `denied` with the same words.
//! Repeats of one denial within 10 s are counted into one line rather than logged one by
//! one (`audit.rs`).
//!
//! ```
//! use sandloop_host::Policy;
//!
//! let policy = Policy::new()
//!     .allow_listen("127.0.0.1:*")?
//!     .allow_connect("10.0.0.0/8:443")?
//!     .allow_connect("[::1]:8000-8999")?
//!     .allow_udp_send("10.0.0.1:53")?
//!     .resolve_name("db.internal", ["10.1.2.3".parse()?]);
//!
//! assert!(policy.check_connect(&"10.9.9.9:443".parse()?).is_ok());
//! assert!(policy.check_connect(&"10.9.9.9:80".parse()?).is_err());
//! assert!(policy.check_listen(&"127.0.0.1:0".parse()?).is_ok());
//! assert!(policy.check_udp_send(&"10.0.0.1:53".parse()?).is_ok());
//! assert!(policy.check_udp_bind(&"127.0.0.1:0".parse()?).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

pub(crate) mod audit;
mod exec;
mod file;
mod host_functions;
mod limits;
mod paths;
mod preopen;
mod signals;
mod unix;

pub use exec::{ExecDenied, ExecRule};
pub use file::{InlinePolicy, PolicyFile, PolicyFileError};
pub use host_functions::{HostFunctionDenied, MAX_HOST_FUNCTION_NAME};
pub use limits::{LimitError, Limits};
pub use preopen::Preopen;
pub(crate) use signals::NEVER_HANDLED;
pub use signals::{MAX_SIGNAL, SignalDenied, parse_signal, parse_signal_grant, signal_name};
pub use unix::{UnixDenied, UnixOperation, UnixRule, UnixTarget};

/// What a workload may do with the network. Cheap to clone; the default denies everything.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Where the workload may `bind` and `listen` a stream socket (datagram sockets have
    /// `allow_udp_bind`). A bind to port 0 (any free port)
    /// matches only rules whose port range includes 0, such as `127.0.0.1:*`.
    pub allow_listen: Vec<AddrRule>,
    /// Where the workload may `connect` a stream socket.
    pub allow_connect: Vec<AddrRule>,
    /// Where the workload may bind a datagram (UDP) socket. A bind to port 0 matches only
    /// rules whose port range includes 0, as for `allow_listen`.
    pub allow_udp_bind: Vec<AddrRule>,
    /// Where the workload may send datagrams: every `send-to` target, and the peer a
    /// datagram socket connects to (connecting fixes where its datagrams go).
    pub allow_udp_send: Vec<AddrRule>,
    /// Names that resolve to fixed addresses without asking the system resolver, like an
    /// `/etc/hosts` of the sandbox or curl's `--resolve`. Names match case-insensitively,
    /// with or without a trailing dot.
    pub resolve: BTreeMap<String, Vec<IpAddr>>,
    /// Unix socket files, directories and abstract names the workload may bind, listen
    /// on and connect to (see [`UnixRule`]). `socketpair` needs no grant.
    pub allow_unix: Vec<UnixRule>,
    /// Host directories the workload may read, each under a guest path; read-only unless
    /// the preopen is [`writable`](Preopen::writable).
    pub preopens: Vec<Preopen>,
    /// Executables the workload may run as subprocesses: files, or directories whose
    /// files directly beneath are granted (see [`ExecRule`]).
    pub allow_exec: Vec<ExecRule>,
    /// Whether the workload may run shell commands (`subprocess_shell`, `/bin/sh -c`).
    pub allow_shell: bool,
    /// The only environment variables a workload may set for its children; a spawn that
    /// passes another is refused.
    pub child_env: Vec<String>,
    /// Signals (Linux numbers) the workload may handle: deliveries of these to the host
    /// process reach the workload's `add_signal_handler` callbacks.
    pub allow_signals: Vec<i32>,
    /// The functions of the embedding application the workload may call, by exact name
    /// (see [`crate::host_functions`]). A name not listed is denied whether or not the
    /// application provides it.
    pub allow_host_functions: Vec<String>,
    /// Whether every lookup that would ask the system resolver is denied (CLI `--no-dns`,
    /// file `dns = false`). Off by default: names resolve through the host's resolver.
    /// Even when set, literal IP addresses, lookups of a port alone and the names in
    /// [`resolve`](Policy::resolve) still answer: none of them asks a resolver.
    pub deny_dns: bool,
    /// How much of the host the workload may use (see [`Limits`]); the default sets no
    /// limit.
    pub limits: Limits,
}

impl Policy {
    /// A policy that grants nothing (the same as `Policy::default()`).
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Also allows listening (and binding) where `rule` says (`ADDR:PORTS`, see
    /// [`AddrRule`]).
    pub fn allow_listen(mut self, rule: &str) -> Result<Policy, RuleError> {
        self.allow_listen.push(rule.parse()?);
        Ok(self)
    }

    /// Also allows connecting where `rule` says (`ADDR:PORTS`, see [`AddrRule`]).
    pub fn allow_connect(mut self, rule: &str) -> Result<Policy, RuleError> {
        self.allow_connect.push(rule.parse()?);
        Ok(self)
    }

    /// Also allows binding datagram sockets where `rule` says (`ADDR:PORTS`, see
    /// [`AddrRule`]).
    pub fn allow_udp_bind(mut self, rule: &str) -> Result<Policy, RuleError> {
        self.allow_udp_bind.push(rule.parse()?);
        Ok(self)
    }

    /// Also allows sending datagrams (and connecting datagram sockets) where `rule` says
    /// (`ADDR:PORTS`, see [`AddrRule`]).
    pub fn allow_udp_send(mut self, rule: &str) -> Result<Policy, RuleError> {
        self.allow_udp_send.push(rule.parse()?);
        Ok(self)
    }

    /// Makes `name` resolve to `addrs` only, without asking the system resolver.
    pub fn resolve_name(
        mut self,
        name: impl Into<String>,
        addrs: impl IntoIterator<Item = IpAddr>,
    ) -> Policy {
        let name = normalize_name(&name.into());
        self.resolve.insert(name, addrs.into_iter().collect());
        self
    }

    /// Also lets the workload read the directory `host` (read-only), under the guest path
    /// `guest`.
    pub fn preopen(mut self, host: impl Into<std::path::PathBuf>, guest: &str) -> Policy {
        self.preopens.push(Preopen::new(host, guest));
        self
    }

    /// Also lets the workload read and write the directory `host` (create, change and
    /// remove files beneath it), under the guest path `guest`.
    pub fn preopen_read_write(
        mut self,
        host: impl Into<std::path::PathBuf>,
        guest: &str,
    ) -> Policy {
        self.preopens.push(Preopen::read_write(host, guest));
        self
    }

    /// Also allows running the executable or the directory of executables `rule`
    /// (see [`ExecRule`]).
    pub fn allow_exec(mut self, rule: &str) -> Result<Policy, RuleError> {
        self.allow_exec.push(rule.parse()?);
        Ok(self)
    }

    /// The executable a spawn of `program` runs, if granted (a bare name is looked up in
    /// the granted places only); a denial is logged for audit.
    pub fn check_exec(&self, program: &str) -> Result<std::path::PathBuf, ExecDenied> {
        exec::resolve(&self.allow_exec, program)
    }

    /// Whether the workload may run shell commands; a denial is logged for audit.
    pub fn check_shell(&self) -> Result<(), ExecDenied> {
        if self.allow_shell {
            Ok(())
        } else {
            Err(exec::audit(ExecDenied::Shell))
        }
    }

    /// Whether the workload may pass the environment variable `name` to a child; a
    /// denial is logged for audit.
    pub fn check_child_env(&self, name: &str) -> Result<(), ExecDenied> {
        if self.child_env.iter().any(|allowed| allowed == name) {
            Ok(())
        } else {
            Err(exec::audit(ExecDenied::Env(name.to_owned())))
        }
    }

    /// Also lets the workload handle signal `signum` (a Linux number, see
    /// [`parse_signal`]). A signal no workload can ever handle (SIGKILL, SIGSTOP, and the
    /// faults SIGSEGV, SIGILL, SIGFPE, SIGBUS) or a number out of range is refused.
    pub fn allow_signal(mut self, signum: i32) -> Result<Policy, RuleError> {
        signals::check_grant(signum)?;
        self.allow_signals.push(signum);
        Ok(self)
    }

    /// Also lets the workload call the embedding application's host function `name`
    /// (see [`crate::host_functions`]). An empty name, one of more than
    /// [`MAX_HOST_FUNCTION_NAME`] bytes or one with control characters is refused.
    pub fn allow_host_function(mut self, name: &str) -> Result<Policy, RuleError> {
        host_functions::check_grant(name)?;
        self.allow_host_functions.push(name.to_owned());
        Ok(self)
    }

    /// Whether the workload may call host function `name`; a denial is logged for audit.
    pub fn check_host_function(&self, name: &str) -> Result<(), HostFunctionDenied> {
        host_functions::check(&self.allow_host_functions, name)
    }

    /// Whether this policy can work as written: every granted signal is one a workload can
    /// handle, every granted host function's name is a name, and every limit set is one a workload can run under (see
    /// [`Limits::check`]). The builder methods refuse such grants as they are made; this
    /// also catches a policy whose public fields were filled in directly.
    /// [`Workload::run`](crate::Workload::run) and [`Workload::start`](crate::Workload::start)
    /// refuse a policy that fails it.
    pub fn check(&self) -> Result<(), PolicyError> {
        for &signum in &self.allow_signals {
            signals::check_grant(signum)?;
        }
        for name in &self.allow_host_functions {
            host_functions::check_grant(name)?;
        }
        self.limits.check()?;
        Ok(())
    }

    /// Whether the workload may handle signal `signum`; a denial is logged for audit.
    pub fn check_signal(&self, signum: i32) -> Result<(), SignalDenied> {
        signals::check(&self.allow_signals, signum)
    }

    /// Whether the workload may bind or listen on `addr`; a denial is logged for audit.
    pub fn check_listen(&self, addr: &SocketAddr) -> Result<(), Denied> {
        check(&self.allow_listen, Operation::Listen, addr)
    }

    /// Whether the workload may bind to `addr` (checked against the listen rules: a bound
    /// socket is one step from listening); a denial is logged for audit.
    pub fn check_bind(&self, addr: &SocketAddr) -> Result<(), Denied> {
        check(&self.allow_listen, Operation::Bind, addr)
    }

    /// Whether the workload may connect to `addr`; a denial is logged for audit.
    pub fn check_connect(&self, addr: &SocketAddr) -> Result<(), Denied> {
        check(&self.allow_connect, Operation::Connect, addr)
    }

    /// Also allows unix sockets where `rule` says (a socket file, a `directory/` or an
    /// abstract `@NAME`/`@PREFIX*`, see [`UnixRule`]).
    pub fn allow_unix(mut self, rule: &str) -> Result<Policy, RuleError> {
        self.allow_unix.push(rule.parse()?);
        Ok(self)
    }

    /// Whether the workload may do `op` on the unix socket path or name `target`; a
    /// denial is logged for audit.
    pub fn check_unix(&self, op: UnixOperation, target: &UnixTarget) -> Result<(), UnixDenied> {
        unix::check(&self.allow_unix, op, target)
    }

    /// Whether the workload may bind a datagram socket to `addr`; a denial is logged for
    /// audit.
    pub fn check_udp_bind(&self, addr: &SocketAddr) -> Result<(), Denied> {
        check(&self.allow_udp_bind, Operation::UdpBind, addr)
    }

    /// Whether the workload may send a datagram to `addr` (or connect a datagram socket
    /// to it); a denial is logged for audit.
    pub fn check_udp_send(&self, addr: &SocketAddr) -> Result<(), Denied> {
        check(&self.allow_udp_send, Operation::UdpSend, addr)
    }

    /// Denies every lookup that would reach the system resolver (see
    /// [`deny_dns`](Policy::deny_dns)).
    pub fn deny_dns(mut self) -> Policy {
        self.deny_dns = true;
        self
    }

    /// Whether the workload may ask the system resolver about `name` (a host name, or
    /// an address for a reverse lookup); a denial is logged for audit.
    pub fn check_dns(&self, name: &str) -> Result<(), DnsDenied> {
        if !self.deny_dns {
            return Ok(());
        }
        let denied = DnsDenied {
            name: name.to_owned(),
        };
        audit::denied("dns", name, &denied.to_string());
        Err(denied)
    }

    /// The fixed addresses of `name`, if the policy lists it.
    pub fn resolved(&self, name: &str) -> Option<&[IpAddr]> {
        if let Some(addrs) = self.resolve.get(name) {
            return Some(addrs);
        }
        // Keys inserted through the public field may not be normalized: compare loosely.
        let wanted = name.strip_suffix('.').unwrap_or(name);
        self.resolve
            .iter()
            .find(|(key, _)| {
                key.strip_suffix('.')
                    .unwrap_or(key)
                    .eq_ignore_ascii_case(wanted)
            })
            .map(|(_, addrs)| addrs.as_slice())
    }

    /// The first name listed in [`resolve`](Policy::resolve) with `ip` among its
    /// addresses: what a reverse lookup of `ip` answers inside the sandbox.
    pub fn name_of(&self, ip: IpAddr) -> Option<&str> {
        let ip = ip.to_canonical();
        self.resolve
            .iter()
            .find(|(_, addrs)| addrs.iter().any(|a| a.to_canonical() == ip))
            .map(|(name, _)| name.as_str())
    }
}

/// Why a policy can never work as written (see [`Policy::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A grant no workload can use, e.g. of SIGKILL.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// A limit no workload can run under, or one that limits nothing.
    #[error(transparent)]
    Limit(#[from] LimitError),
}

/// Lower case, no trailing dot: the form names are compared in.
fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

fn check(rules: &[AddrRule], op: Operation, addr: &SocketAddr) -> Result<(), Denied> {
    if rules.iter().any(|rule| rule.matches(addr)) {
        return Ok(());
    }
    let denied = Denied {
        operation: op,
        address: *addr,
    };
    audit::denied(op.as_str(), &addr.to_string(), &denied.to_string());
    Err(denied)
}

/// A workload operation that the policy checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Binding a socket to a local address.
    Bind,
    /// Listening for connections.
    Listen,
    /// Connecting to a peer.
    Connect,
    /// Binding a datagram socket to a local address.
    UdpBind,
    /// Sending a datagram (or connecting a datagram socket) to a peer.
    UdpSend,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Bind => "bind",
            Operation::Listen => "listen",
            Operation::Connect => "connect",
            Operation::UdpBind => "udp bind",
            Operation::UdpSend => "udp send",
        }
    }
}

/// A denial: the operation and the address no rule allows. Displays as the guest reads
/// it: `policy denies connect to 10.1.2.3:80`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy denies {} {} {address}", operation.as_str(), match operation {
    Operation::Listen => "on",
    Operation::Bind | Operation::Connect | Operation::UdpBind | Operation::UdpSend => "to",
})]
pub struct Denied {
    /// What the workload tried.
    pub operation: Operation,
    /// On or to what.
    pub address: SocketAddr,
}

/// A DNS denial (the policy's [`deny_dns`](Policy::deny_dns)): displays as the guest
/// reads it, `policy denies DNS lookup of example.com`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy denies DNS lookup of {name}")]
pub struct DnsDenied {
    /// The name (or, for a reverse lookup, the address) the workload asked about.
    pub name: String,
}

/// One allow rule: an address set and a port range, written `ADDR:PORTS`.
///
/// ADDR is an IPv4 address (`127.0.0.1`), an IPv4 network (`10.0.0.0/8`), an IPv6 address
/// or network in brackets (`[::1]`, `[fd00::]/8`), or `*` for every address of both
/// families. PORTS is a port (`80`), a range (`8000-8999`) or `*` (every port, 0
/// included). An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is matched as the IPv4
/// address it maps.
///
/// ```
/// use sandloop_host::AddrRule;
///
/// let rule: AddrRule = "10.0.0.0/8:8000-8999".parse()?;
/// assert!(rule.matches(&"10.1.2.3:8080".parse()?));
/// assert!(rule.matches(&"[::ffff:10.1.2.3]:8080".parse()?));
/// assert!(!rule.matches(&"10.1.2.3:80".parse()?));
/// assert_eq!(rule.to_string(), "10.0.0.0/8:8000-8999");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRule {
    addrs: AddrSet,
    ports: (u16, u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddrSet {
    Any,
    V4 { net: Ipv4Addr, prefix: u8 },
    V6 { net: Ipv6Addr, prefix: u8 },
}

impl AddrRule {
    /// Whether `addr` is in this rule's address set and port range.
    pub fn matches(&self, addr: &SocketAddr) -> bool {
        let (lo, hi) = self.ports;
        (lo..=hi).contains(&addr.port()) && self.addrs.contains(addr.ip().to_canonical())
    }
}

impl AddrSet {
    fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (AddrSet::Any, _) => true,
            (AddrSet::V4 { net, prefix }, IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                u32::from(ip) & mask == u32::from(net)
            }
            (AddrSet::V6 { net, prefix }, IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

/// Why an `ADDR:PORTS` rule or a `NAME=ADDR,...` override does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rule {input:?}: {reason}")]
pub struct RuleError {
    input: String,
    reason: String,
}

impl RuleError {
    fn new(input: &str, reason: impl Into<String>) -> RuleError {
        RuleError {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

impl FromStr for AddrRule {
    type Err = RuleError;

    fn from_str(input: &str) -> Result<AddrRule, RuleError> {
        let fail = |reason: String| RuleError::new(input, reason);
        let (addr, ports) = if let Some(rest) = input.strip_prefix('[') {
            let (ip, rest) = rest
                .split_once(']')
                .ok_or_else(|| fail("an IPv6 address opened with `[` needs a `]`".into()))?;
            let (prefix, ports) = match rest.strip_prefix('/') {
                Some(rest) => {
                    let (prefix, ports) = rest.split_once(':').ok_or_else(|| {
                        fail("expected ADDR:PORTS, e.g. [::1]:8080 or [fd00::]/8:*".into())
                    })?;
                    (Some(prefix), ports)
                }
                None => {
                    let ports = rest.strip_prefix(':').ok_or_else(|| {
                        fail("expected ADDR:PORTS, e.g. [::1]:8080 or [fd00::]/8:*".into())
                    })?;
                    (None, ports)
                }
            };
            let ip: Ipv6Addr = ip
                .parse()
                .map_err(|_| fail(format!("{ip:?} is not an IPv6 address")))?;
            (parse_v6_set(ip, prefix).map_err(fail)?, ports)
        } else {
            let (addr, ports) = input.rsplit_once(':').ok_or_else(|| {
                fail(
                    "expected ADDR:PORTS, e.g. 127.0.0.1:8080, 10.0.0.0/8:*, [::1]:80 or *:443"
                        .into(),
                )
            })?;
            (parse_v4_set(addr).map_err(fail)?, ports)
        };
        let ports = parse_ports(ports).map_err(fail)?;
        Ok(AddrRule { addrs: addr, ports })
    }
}

fn parse_v4_set(addr: &str) -> Result<AddrSet, String> {
    if addr == "*" {
        return Ok(AddrSet::Any);
    }
    if addr.contains(':') {
        return Err(format!(
            "{addr:?} looks like an IPv6 address: write it in brackets, e.g. [{addr}]:PORTS"
        ));
    }
    let (ip, prefix) = match addr.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (addr, None),
    };
    let net: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IPv4 address, [IPv6] address or *"))?;
    let prefix = parse_prefix(prefix, 32)?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    if u32::from(net) & !mask != 0 {
        let base = Ipv4Addr::from(u32::from(net) & mask);
        return Err(format!(
            "{addr} has bits set past the /{prefix} prefix; did you mean {base}/{prefix}?"
        ));
    }
    Ok(AddrSet::V4 { net, prefix })
}

fn parse_v6_set(net: Ipv6Addr, prefix: Option<&str>) -> Result<AddrSet, String> {
    let prefix = parse_prefix(prefix, 128)?;
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    if u128::from(net) & !mask != 0 {
        let base = Ipv6Addr::from(u128::from(net) & mask);
        return Err(format!(
            "[{net}]/{prefix} has bits set past the prefix; did you mean [{base}]/{prefix}?"
        ));
    }
    // Addresses are matched in canonical form (IPv4-mapped ones as IPv4), so a rule on
    // the mapped range must be an IPv4 rule too.
    if let Some(v4) = net.to_ipv4_mapped()
        && prefix >= 96
    {
        return Ok(AddrSet::V4 {
            net: v4,
            prefix: prefix - 96,
        });
    }
    Ok(AddrSet::V6 { net, prefix })
}

fn parse_prefix(prefix: Option<&str>, bits: u8) -> Result<u8, String> {
    let Some(prefix) = prefix else {
        return Ok(bits);
    };
    match prefix.parse::<u8>() {
        Ok(len) if len <= bits => Ok(len),
        _ => Err(format!(
            "the prefix length {prefix:?} is not a number from 0 to {bits}"
        )),
    }
}

fn parse_ports(ports: &str) -> Result<(u16, u16), String> {
    let port = |text: &str| {
        text.parse::<u16>()
            .map_err(|_| format!("{text:?} is not a port (0 to 65535)"))
    };
    if ports == "*" {
        return Ok((0, u16::MAX));
    }
    if ports.is_empty() {
        return Err("no ports after `:` (write a port, LO-HI or *)".into());
    }
    match ports.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (port(lo)?, port(hi)?);
            if lo > hi {
                return Err(format!(
                    "the port range {ports} is empty (LO must be <= HI)"
                ));
            }
            Ok((lo, hi))
        }
        None => port(ports).map(|p| (p, p)),
    }
}

impl fmt::Display for AddrRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addrs {
            AddrSet::Any => f.write_str("*")?,
            AddrSet::V4 { net, prefix: 32 } => write!(f, "{net}")?,
            AddrSet::V4 { net, prefix } => write!(f, "{net}/{prefix}")?,
            AddrSet::V6 { net, prefix: 128 } => write!(f, "[{net}]")?,
            AddrSet::V6 { net, prefix } => write!(f, "[{net}]/{prefix}")?,
        }
        match self.ports {
            (0, u16::MAX) => f.write_str(":*"),
            (lo, hi) if lo == hi => write!(f, ":{lo}"),
            (lo, hi) => write!(f, ":{lo}-{hi}"),
        }
    }
}

/// One `--resolve` override, written `NAME=ADDR[,ADDR...]`: the name resolves to exactly
/// these addresses inside the sandbox.
///
/// ```
/// use sandloop_host::{Policy, ResolveOverride};
///
/// let entry: ResolveOverride = "api.example=10.0.0.7,[::1]".parse()?;
/// let policy = Policy::new().resolve_name(entry.name, entry.addrs);
/// assert_eq!(policy.resolved("API.example.").map(<[_]>::len), Some(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOverride {
    /// The host name.
    pub name: String,
    /// Its addresses, in the order given.
    pub addrs: Vec<IpAddr>,
}

impl FromStr for ResolveOverride {
    type Err = RuleError;

    fn from_str(input: &str) -> Result<ResolveOverride, RuleError> {
        let fail = |reason: String| RuleError::new(input, reason);
        let (name, addrs) = input.split_once('=').ok_or_else(|| {
            fail("expected NAME=ADDR[,ADDR...], e.g. db.internal=10.0.0.7,::1".into())
        })?;
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '\0') {
            return Err(fail(format!("{name:?} is not a host name")));
        }
        let addrs = addrs
            .split(',')
            .map(|addr| {
                // `[::1]` reads like the rules' syntax; accept it too.
                let bare = addr
                    .strip_prefix('[')
                    .and_then(|a| a.strip_suffix(']'))
                    .unwrap_or(addr);
                bare.parse::<IpAddr>()
                    .map_err(|_| fail(format!("{addr:?} is not an IP address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ResolveOverride {
            name: name.to_owned(),
            addrs,
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod udp_tests;
