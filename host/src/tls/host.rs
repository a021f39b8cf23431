//! The WIT interface `sandloop:host/tls` over a [`NetView`]: a session lives in a
//! completion-mode [`Stream`], so TLS works with what `net` works with.

use wasmtime::component::Resource;

use super::Context;
use crate::bindings::tls as wit;
use crate::bindings::types::Error;
use crate::net::Stream;
use crate::state::NetView;

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
        Ok(self.table.get(&s)?.tls_info())
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
        Ok(match Context::client(options) {
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
        Ok(match Context::server(options) {
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
