//! The WIT interface `sandloop:host/signal` over a [`SignalView`].

use wasmtime::component::Resource;

use super::Subscription;
use crate::bindings::signal as wit;
use crate::bindings::types::Error;
use crate::state::SignalView;

impl wit::Host for SignalView<'_> {
    fn subscribe(
        &mut self,
        signum: u32,
        token: u64,
    ) -> wasmtime::Result<Result<Resource<Subscription>, Error>> {
        let completer = self.reactor.completer();
        match super::subscribe(self.table, completer, self.policy, signum, token) {
            Ok(sub) => Ok(Ok(self.table.push(sub)?)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    fn host_pid(&mut self) -> wasmtime::Result<u32> {
        Ok(std::process::id())
    }
}

impl wit::HostSubscription for SignalView<'_> {
    fn signum(&mut self, sub: Resource<Subscription>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&sub)?.signum() as u32)
    }

    fn drop(&mut self, sub: Resource<Subscription>) -> wasmtime::Result<()> {
        self.table.delete(sub)?;
        Ok(())
    }
}
