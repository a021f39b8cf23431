//! Tries one thing the policy decides and prints the outcome, for the CLI policy tests
//! (`host/tests/cli_policy.rs`): the arguments say what to try.
//!
//! - `connect HOST PORT`: `create_connection` (a lookup of HOST first, as asyncio does)
//! - `listen HOST PORT`: `create_server`
//! - `resolve NAME`: `getaddrinfo(NAME, 80)`
//! - `write PATH TEXT`: `std::fs::write` through `wasi:filesystem`
//! - `read PATH`: `std::fs::read_to_string`, printed
//! - `env NAME`: the variable's value, or `unset`
//! - `exec PROGRAM`: `create_subprocess_exec(PROGRAM)`, then its exit code
//! - `exec-env NAME VALUE`: `/usr/bin/printenv NAME` with the child environment
//!   `NAME=VALUE` (stdout to /dev/null), then its exit code (0: the child got it)
//! - `shell CMD`: `create_subprocess_shell(CMD)`, then its exit code
//! - `signal NUMBER`: `add_signal_handler(NUMBER)` (removed again)
//! - `udp-bind ADDR`: binds a datagram socket to the socket address ADDR
//! - `udp-send ADDR TEXT`: sends TEXT in one datagram to ADDR from an unbound socket
//! - `unix-listen PATH`: `create_unix_server(PATH)` (a path, or `@name` abstract)
//! - `repeat N WORDS...`: tries WORDS N times over (a denial repeated, for the audit log);
//!   the outcome is the last try's
//!
//! Prints `ok[: DETAIL]` and exits 0, or prints the error (a denial reads
//! `permission denied: policy denies ...`) and exits 3.

use std::net::SocketAddr;

use sandloop::net::{Family, Socket, SocketType};
use sandloop::subprocess::{
    Stdio, SubprocessOptions, create_subprocess_exec, create_subprocess_shell,
};
use sandloop::{
    AddrInfoHints, ConnectOptions, Error, Protocol, Result, ServerOptions, UnixPath,
    UnixServerOptions, get_running_loop, run,
};

/// A protocol that ignores everything: the probe only cares whether the call succeeds.
struct Quiet;

impl Protocol for Quiet {}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match words.as_slice() {
        ["repeat", times, words @ ..] => match times.parse::<u32>() {
            Ok(times) => {
                let mut outcome = probe(words);
                for _ in 1..times {
                    outcome = probe(words);
                }
                outcome
            }
            Err(_) => Err(Error::Runtime(format!("{times:?} is not a count"))),
        },
        words => probe(words),
    };
    match outcome {
        Ok(detail) if detail.is_empty() => println!("ok"),
        Ok(detail) => println!("ok: {detail}"),
        Err(err) => {
            println!("{err}");
            sandloop::exit(3);
        }
    }
}

fn probe(words: &[&str]) -> Result<String> {
    let port = |text: &str| -> Result<u16> {
        text.parse()
            .map_err(|_| Error::Runtime(format!("{text:?} is not a port")))
    };
    match words {
        ["connect", host, p] => {
            let (host, p) = (host.to_string(), port(p)?);
            run(async move {
                let lp = get_running_loop()?;
                let (transport, _) = lp
                    .create_connection(|| Quiet, &host, p, ConnectOptions::default())
                    .await?;
                transport.close();
                Ok::<_, Error>(String::new())
            })
        }
        ["listen", host, p] => {
            let (host, p) = (host.to_string(), port(p)?);
            run(async move {
                let lp = get_running_loop()?;
                let server = lp
                    .create_server(|| Quiet, host.as_str(), p, ServerOptions::default())
                    .await?;
                server.close();
                Ok::<_, Error>(String::new())
            })
        }
        ["resolve", name] => {
            let name = name.to_string();
            run(async move {
                let lp = get_running_loop()?;
                let answers = lp
                    .getaddrinfo(Some(&name), Some("80"), AddrInfoHints::default())
                    .await?;
                let first = answers.first().map(|a| a.address.to_string());
                Ok::<_, Error>(first.unwrap_or_default())
            })
        }
        ["write", path, text] => {
            std::fs::write(path, text)
                .map_err(|err| Error::Runtime(format!("write {path}: {err}")))?;
            Ok(String::new())
        }
        ["read", path] => std::fs::read_to_string(path)
            .map_err(|err| Error::Runtime(format!("read {path}: {err}"))),
        ["exec", program] => {
            let program = program.to_string();
            run(async move {
                let child =
                    create_subprocess_exec(&program, [""; 0], SubprocessOptions::default()).await?;
                Ok::<_, Error>(format!("exit {}", child.wait().await?))
            })
        }
        ["exec-env", name, value] => {
            let options = SubprocessOptions {
                stdout: Stdio::Null,
                env: vec![(name.to_string(), value.to_string())],
                ..SubprocessOptions::default()
            };
            let name = name.to_string();
            run(async move {
                let child = create_subprocess_exec("/usr/bin/printenv", [name], options).await?;
                Ok::<_, Error>(format!("exit {}", child.wait().await?))
            })
        }
        ["shell", cmd] => {
            let cmd = cmd.to_string();
            run(async move {
                let child = create_subprocess_shell(&cmd, SubprocessOptions::default()).await?;
                Ok::<_, Error>(format!("exit {}", child.wait().await?))
            })
        }
        ["signal", number] => {
            let signum: i32 = number
                .parse()
                .map_err(|_| Error::Runtime(format!("{number:?} is not a signal number")))?;
            run(async move {
                let lp = get_running_loop()?;
                lp.add_signal_handler(signum, || ())?;
                lp.remove_signal_handler(signum)?;
                Ok::<_, Error>(String::new())
            })
        }
        ["udp-bind", addr] => {
            let (sock, addr) = udp_socket_for(addr)?;
            sock.bind(addr)?;
            Ok(String::new())
        }
        ["udp-send", addr, text] => {
            let (sock, addr) = udp_socket_for(addr)?;
            let sent = sock.send_to(text.as_bytes(), addr)?;
            Ok(format!("sent {sent}"))
        }
        ["unix-listen", path] => {
            let path = match path.strip_prefix('@') {
                Some(name) => UnixPath::from([b"\0", name.as_bytes()].concat()),
                None => UnixPath::from(*path),
            };
            run(async move {
                let lp = get_running_loop()?;
                let server = lp
                    .create_unix_server(|| Quiet, path, UnixServerOptions::default())
                    .await?;
                server.close();
                Ok::<_, Error>(String::new())
            })
        }
        ["env", name] => Ok(std::env::var(name).unwrap_or_else(|_| "unset".into())),
        _ => Err(Error::Runtime(format!(
            "usage: connect HOST PORT | listen HOST PORT | resolve NAME | write PATH TEXT | read PATH | env NAME | exec PROGRAM | exec-env NAME VALUE | shell CMD | signal NUMBER | udp-bind ADDR | udp-send ADDR TEXT | unix-listen PATH (got {words:?})"
        ))),
    }
}

/// A datagram socket of the family of `addr`, and `addr` parsed.
fn udp_socket_for(addr: &str) -> Result<(Socket, SocketAddr)> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| Error::Runtime(format!("{addr:?} is not a socket address")))?;
    let family = if addr.is_ipv4() {
        Family::Inet
    } else {
        Family::Inet6
    };
    Ok((Socket::new(family, SocketType::Datagram)?, addr))
}
