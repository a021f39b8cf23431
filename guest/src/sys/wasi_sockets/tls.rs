//! TLS (`sandloop::tls`): not in the portable build. The sandloop host runs rustls for
//! its completion-mode streams; WASI 0.2 has no TLS interface, so a context cannot be
//! made here and every TLS call is refused where it starts.

use super::errors::unsupported;
use super::net::HostStream;
use crate::error::Result;

pub use crate::sys::tls_config::TlsInfo;
pub(crate) use crate::sys::tls_config::{ClientAuth, ClientConfig, IdentityPem, ServerConfig};

const NO_TLS: &str = "TLS runs in the sandloop host; WASI 0.2 has no TLS interface";

/// The host's TLS configuration: never made here.
pub(crate) struct HostTlsContext {
    never: std::convert::Infallible,
}

impl HostTlsContext {
    pub(crate) fn client(_config: &ClientConfig<'_>) -> Result<HostTlsContext> {
        Err(unsupported("TLS client context", NO_TLS))
    }

    pub(crate) fn server(_config: &ServerConfig<'_>) -> Result<HostTlsContext> {
        Err(unsupported("TLS server context", NO_TLS))
    }
}

pub(crate) fn start(
    _stream: &HostStream,
    ctx: &HostTlsContext,
    _server_name: Option<&str>,
) -> Result<()> {
    match ctx.never {}
}

pub(crate) fn info(_stream: &HostStream) -> Option<TlsInfo> {
    None
}
