//! Accepting the connections of a [`Server`](super::Server)'s listening sockets (asyncio's
//! `selector_events._accept_connection`), the same on every loop kind: what differs is
//! only how the accepted socket becomes a transport.
//!
//! Two things here keep a server quiet under pressure, as asyncio's is:
//! - an accept refused for want of resources (the workload's handle limit, which reaches
//!   the guest as `limit-reached`, or the host's own descriptors or memory) stops
//!   accepting on that listener for [`ACCEPT_RETRY_DELAY`] and logs once. The connection
//!   stays in the listener's queue, so the listener stays readable: retrying at once
//!   would spin the loop and log each refusal, as fast as the host answers.
//! - a connection its peer gave up on before it was accepted (reset or aborted) is
//!   routine: it is dropped and logged only in debug mode.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::ServerInner;
use crate::error::{Error, Result};
use crate::exception_handler::ExceptionContext;
use crate::log::{self, Level};
use crate::net::{Family, SockOpt, Socket};
use crate::transports::{Transport, is_connection_error};

/// How long a listener rests after an accept failed for want of resources (asyncio's
/// `constants.ACCEPT_RETRY_DELAY`).
pub(crate) const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Accepts the connections of `listener` whenever it is readable.
pub(super) fn watch_listener(inner: &Rc<ServerInner>, listener: &Socket) -> Result<()> {
    let weak = Rc::downgrade(inner);
    let sock = listener.clone();
    inner.lp.add_reader(listener, move || {
        if let Some(inner) = weak.upgrade() {
            accept_connections(&inner, &sock);
        }
    })
}

/// Accepts what is pending on `listener`, at most `backlog` connections.
fn accept_connections(inner: &Rc<ServerInner>, listener: &Socket) {
    for _ in 0..inner.backlog.max(1) {
        match listener.accept() {
            Ok((conn, _peer)) => {
                if let Err(err) = attach_connection(inner, &conn) {
                    conn.close();
                    transport_failed(inner, err);
                }
            }
            Err(Error::Os(e)) if e.kind() == io::ErrorKind::WouldBlock => return,
            // Gone before it was accepted: the next one may be fine.
            Err(Error::Os(e)) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(err) => {
                inner.lp.call_exception_handler(&ExceptionContext {
                    message: "socket.accept() out of system resource".into(),
                    exception: Some(err),
                    socket: Some(format!("{listener:?}")),
                    ..Default::default()
                });
                rest(inner, listener);
                return;
            }
        }
    }
}

/// Stops accepting on `listener` for [`ACCEPT_RETRY_DELAY`], then watches it again if
/// the server still serves it (it may have been closed meanwhile).
fn rest(inner: &Rc<ServerInner>, listener: &Socket) {
    inner.lp.remove_reader(listener);
    let weak = Rc::downgrade(inner);
    let sock = listener.clone();
    inner.lp.call_later(ACCEPT_RETRY_DELAY, move || {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if !inner.serving.get() || sock.is_closed() {
            return;
        }
        if let Err(err) = watch_listener(&inner, &sock) {
            inner.lp.call_exception_handler(&ExceptionContext {
                message: "Error resuming accepting connections".into(),
                exception: Some(err),
                socket: Some(format!("{sock:?}")),
                ..Default::default()
            });
        }
    });
}

/// A connection that could not become a transport. One its peer already reset is
/// routine (asyncio's transports log such errors in debug mode only); anything else goes
/// to the exception handler.
fn transport_failed(inner: &ServerInner, err: Error) {
    if !is_connection_error(&err) {
        inner.lp.call_exception_handler(&ExceptionContext {
            message: "Error on transport creation for incoming connection".into(),
            exception: Some(err),
            ..Default::default()
        });
    } else if inner.lp.get_debug() {
        log::log(
            Level::Debug,
            format_args!("Incoming connection gone before its transport was made: {err}"),
        );
    }
}

fn attach_connection(inner: &Rc<ServerInner>, conn: &Socket) -> Result<()> {
    if matches!(conn.family()?, Family::Inet | Family::Inet6) {
        conn.set_option(SockOpt::NoDelay(true))?;
    }
    if inner.keep_alive {
        conn.set_option(SockOpt::KeepAlive(true))?;
    }
    let protocol = (inner.factory.borrow_mut())();
    let transport = match &inner.tls {
        Some(setup) => Transport::open_tls(&inner.lp, conn, protocol, setup, false)?.0,
        None => Transport::open(&inner.lp, conn, protocol)?,
    };
    let key = inner
        .clients
        .borrow_mut()
        .insert(Rc::downgrade(&transport.inner));
    let weak = Rc::downgrade(inner);
    transport.on_lost(move || {
        if let Some(inner) = weak.upgrade() {
            inner.clients.borrow_mut().try_remove(key);
            if inner.closed_and_idle() {
                inner.wakeup();
            }
        }
    });
    Ok(())
}
