//! The WIT interface `sandloop:host/host-functions` over a [`HostFunctionsView`]: the
//! policy's check, the handle limit, then the application's function.

use wasmtime::component::Resource;

use super::{CallError, HostCall};
use crate::bindings::host_functions as wit;
use crate::bindings::types::Error;
use crate::error::{ErrorKind, error};
use crate::state::HostFunctionsView;

impl wit::Host for HostFunctionsView<'_> {
    fn call(
        &mut self,
        name: String,
        args: Vec<u8>,
        token: u64,
    ) -> wasmtime::Result<Result<Resource<HostCall>, Error>> {
        // The grant first: a name not granted is denied in the same words whether or not
        // the application provides it.
        if let Err(denied) = self.policy.check_host_function(&name) {
            return Ok(Err(error(ErrorKind::Denied, denied.to_string()).into()));
        }
        if !self.calls.provides(&name) {
            return Ok(Err(error(
                ErrorKind::NotFound,
                format!("no host function named {name:?}: the embedding application provides none"),
            )
            .into()));
        }
        if let Err(err) =
            crate::limits::check_room(self.table, self.limits, "call host function", 1)
        {
            return Ok(Err(err.into()));
        }
        let (call, reply) = self.calls.pending(&name, token);
        // In the table before the function starts: a call the guest does not hold never
        // runs.
        let call = self.table.push(call)?;
        self.calls.start(&name, args, reply);
        Ok(Ok(call))
    }
}

impl wit::HostHostCall for HostFunctionsView<'_> {
    fn answer(
        &mut self,
        call: Resource<HostCall>,
    ) -> wasmtime::Result<Option<Result<Vec<u8>, wit::CallError>>> {
        let answer = self.table.get(&call)?.take_answer();
        Ok(answer.map(|answer| answer.map_err(Into::into)))
    }

    fn drop(&mut self, call: Resource<HostCall>) -> wasmtime::Result<()> {
        self.table.delete(call)?;
        Ok(())
    }
}

impl From<CallError> for wit::CallError {
    fn from(err: CallError) -> wit::CallError {
        match err {
            CallError::Failed(message) => wit::CallError::Failed(message),
            CallError::NoAnswer(message) => wit::CallError::NoAnswer(message),
        }
    }
}
