//! The WIT interface `sandloop:host/tls` over a [`NetView`]: a session lives in a
//! completion-mode [`Stream`], so TLS works with what `net` works with.

use wasmtime::component::Resource;

use super::Context;
use crate::bindings::tls as wit;
use crate::bindings::types::Error;
use crate::net::Stream;
use crate::state::NetView;

impl From<wit::Identity> for super::Identity {
    fn from(identity: wit::Identity) -> super::Identity {
        super::Identity {
            cert_chain_pem: identity.cert_chain_pem,
            key_pem: identity.key_pem,
        }
    }
}

impl From<wit::ClientOptions> for super::ClientOptions {
    fn from(options: wit::ClientOptions) -> super::ClientOptions {
        super::ClientOptions {
            ca_pem: options.ca_pem,
            system_roots: options.system_roots,
            verify: options.verify,
            check_hostname: options.check_hostname,
            alpn: options.alpn,
            identity: options.identity.map(Into::into),
        }
    }
}

impl From<wit::ClientAuth> for super::ClientAuth {
    fn from(auth: wit::ClientAuth) -> super::ClientAuth {
        match auth {
            wit::ClientAuth::None => super::ClientAuth::None,
            wit::ClientAuth::Optional => super::ClientAuth::Optional,
            wit::ClientAuth::Required => super::ClientAuth::Required,
        }
    }
}

impl From<wit::ServerOptions> for super::ServerOptions {
    fn from(options: wit::ServerOptions) -> super::ServerOptions {
        super::ServerOptions {
            identity: options.identity.into(),
            alpn: options.alpn,
            client_auth: options.client_auth.into(),
            client_ca_pem: options.client_ca_pem,
        }
    }
}

impl From<super::SessionInfo> for wit::SessionInfo {
    fn from(info: super::SessionInfo) -> wit::SessionInfo {
        wit::SessionInfo {
            protocol_version: info.protocol_version,
            cipher_suite: info.cipher_suite,
            secret_bits: info.secret_bits,
            alpn_protocol: info.alpn_protocol,
            peer_certificates: info.peer_certificates,
            server_name: info.server_name,
        }
    }
}

impl wit::Host for NetView<'_> {
    fn start(
        &mut self,
        s: Resource<Stream>,
        ctx: Resource<Context>,
        server_name: Option<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let session = super::new_session(self.table.get(&ctx)?, server_name);
        let registry = self.reactor.registry();
        let stream = self.table.get_mut(&s)?;
        Ok(session
            .and_then(|(conn, name)| stream.start_tls(conn, name, registry))
            .map_err(Into::into))
    }

    fn info(&mut self, s: Resource<Stream>) -> wasmtime::Result<Option<wit::SessionInfo>> {
        Ok(self.table.get(&s)?.tls_info().map(Into::into))
    }
}

impl wit::HostContext for NetView<'_> {
    fn client(
        &mut self,
        options: wit::ClientOptions,
    ) -> wasmtime::Result<Result<Resource<Context>, Error>> {
        let limits = &self.policy.limits;
        if let Err(err) = crate::limits::check_room(self.table, limits, "tls client context", 1) {
            return Ok(Err(err.into()));
        }
        Ok(match Context::client(options.into()) {
            Ok(ctx) => Ok(self.table.push(ctx)?),
            Err(err) => Err(err.into()),
        })
    }

    fn server(
        &mut self,
        options: wit::ServerOptions,
    ) -> wasmtime::Result<Result<Resource<Context>, Error>> {
        let limits = &self.policy.limits;
        if let Err(err) = crate::limits::check_room(self.table, limits, "tls server context", 1) {
            return Ok(Err(err.into()));
        }
        Ok(match Context::server(options.into()) {
            Ok(ctx) => Ok(self.table.push(ctx)?),
            Err(err) => Err(err.into()),
        })
    }

    fn is_server(&mut self, self_: Resource<Context>) -> wasmtime::Result<bool> {
        Ok(self.table.get(&self_)?.is_server())
    }

    fn drop(&mut self, rep: Resource<Context>) -> wasmtime::Result<()> {
        // The streams started with it hold their own reference to the configuration.
        self.table.delete(rep)?;
        Ok(())
    }
}
