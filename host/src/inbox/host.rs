//! The WIT interface `sandloop:host/inbox` over the instance's [`Inbox`].

use super::{Inbox, Message};
use crate::bindings::inbox as wit;

impl wit::Host for Inbox {
    fn watch(&mut self, token: u64) -> wasmtime::Result<()> {
        self.watch_token(token);
        Ok(())
    }

    fn take(&mut self) -> wasmtime::Result<Vec<wit::Message>> {
        Ok(self.take_messages().into_iter().map(Into::into).collect())
    }

    fn close(&mut self) -> wasmtime::Result<()> {
        self.loop_closed();
        Ok(())
    }
}

impl From<Message> for wit::Message {
    fn from(message: Message) -> wit::Message {
        wit::Message {
            name: message.name,
            payload: message.payload,
        }
    }
}
