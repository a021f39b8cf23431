//! The WIT interface `sandloop:host/inbox` over the instance's [`Inbox`].

use super::{Batch, Inbox, Message};
use crate::bindings::inbox as wit;
use crate::calls::error::GuestFailure;

impl wit::Host for Inbox {
    fn watch(&mut self, token: u64) -> wasmtime::Result<()> {
        self.watch_token(token);
        Ok(())
    }

    fn take(&mut self) -> wasmtime::Result<wit::Batch> {
        Ok(self.take_batch().into())
    }

    fn answer(
        &mut self,
        call: u64,
        result: Result<Vec<u8>, wit::CallError>,
    ) -> wasmtime::Result<()> {
        self.answer_call(call, result.map_err(Into::into));
        Ok(())
    }

    fn close(&mut self) -> wasmtime::Result<()> {
        self.loop_closed();
        Ok(())
    }
}

impl From<Batch> for wit::Batch {
    fn from(batch: Batch) -> wit::Batch {
        wit::Batch {
            messages: batch.messages.into_iter().map(Into::into).collect(),
            cancelled: batch.cancelled,
        }
    }
}

impl From<Message> for wit::Message {
    fn from(message: Message) -> wit::Message {
        wit::Message {
            name: message.name,
            payload: message.payload,
            call: message.call,
        }
    }
}

impl From<wit::CallError> for GuestFailure {
    fn from(error: wit::CallError) -> GuestFailure {
        match error {
            wit::CallError::NoSuchFunction => GuestFailure::NoSuchFunction,
            wit::CallError::BadArguments(message) => GuestFailure::BadArguments(message),
            wit::CallError::Failed(message) => GuestFailure::Failed(message),
            wit::CallError::Cancelled => GuestFailure::Cancelled,
        }
    }
}
