//! A WebSocket connection between a caller and a guest's `websocket` export: two bounded
//! channels, one each way, so a slow side holds the other back instead of piling up messages.

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::InvokeError;

/// Messages buffered each way before the sender waits.
const BUFFER: usize = 16;

/// One WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// The guest's end, kept in the store while its handler runs.
#[derive(Debug)]
pub(crate) struct Socket {
    incoming: mpsc::Receiver<Message>,
    outgoing: mpsc::Sender<Message>,
    cancel: CancellationToken,
}

/// Why a message could not be sent: the connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

impl Socket {
    /// The client's next message; none once it has closed the connection or gone away.
    pub(crate) async fn receive(&mut self) -> Option<Message> {
        tokio::select! {
            // What the client sent before it closed is the guest's to read first.
            biased;
            message = self.incoming.recv() => message,
            () = self.cancel.cancelled() => None,
        }
    }

    /// Sends a message to the client, waiting while the buffer is full.
    pub(crate) async fn send(&self, message: Message) -> Result<(), Closed> {
        tokio::select! {
            // Once the connection is closing nothing more reaches the client, room or not.
            biased;
            () = self.cancel.cancelled() => Err(Closed),
            sent = self.outgoing.send(message) => sent.map_err(|_| Closed),
        }
    }
}

/// A WebSocket handler running on the worker pool: deliver the client's messages, take the
/// guest's, and await how it ended. Dropping this cancels the handler.
#[derive(Debug)]
pub struct RunningSocket {
    to_guest: Option<mpsc::Sender<Message>>,
    from_guest: mpsc::Receiver<Message>,
    pub(crate) outcome: oneshot::Receiver<Result<(), InvokeError>>,
    cancel: CancellationToken,
}

/// Both ends of a new connection.
pub(crate) fn pair(
    cancel: CancellationToken,
    outcome: oneshot::Receiver<Result<(), InvokeError>>,
) -> (Socket, RunningSocket) {
    let (to_guest, incoming) = mpsc::channel(BUFFER);
    let (outgoing, from_guest) = mpsc::channel(BUFFER);
    let socket = Socket {
        incoming,
        outgoing,
        cancel: cancel.clone(),
    };
    let running = RunningSocket {
        to_guest: Some(to_guest),
        from_guest,
        outcome,
        cancel,
    };
    (socket, running)
}

/// The way in for the client's messages, to be driven on a task of its own while the guest's
/// messages are taken from [`RunningSocket`], so that neither direction waits for the other.
#[derive(Debug)]
pub struct SocketInput {
    to_guest: mpsc::Sender<Message>,
    cancel: CancellationToken,
}

impl SocketInput {
    /// Hands the guest a message from the client, waiting while it is behind; false once the
    /// guest no longer receives.
    pub async fn deliver(&self, message: Message) -> bool {
        self.to_guest.send(message).await.is_ok()
    }

    /// The client has closed the connection or gone away: the guest's `receive` returns the
    /// messages already delivered and then none, its `send` fails, and it is cut off if it does
    /// not return within the cancel grace.
    pub fn client_gone(self) {
        self.cancel.cancel();
    }
}

impl RunningSocket {
    /// Takes the way in for the client's messages (once). Dropping it without calling
    /// [`SocketInput::client_gone`] only tells the guest there are no more messages.
    pub fn take_input(&mut self) -> Option<SocketInput> {
        let to_guest = self.to_guest.take()?;
        Some(SocketInput {
            to_guest,
            cancel: self.cancel.clone(),
        })
    }

    /// The guest's next message; none once its handler has ended.
    pub async fn next_message(&mut self) -> Option<Message> {
        self.from_guest.recv().await
    }

    /// Waits for the handler to end. Messages not yet taken are discarded.
    pub async fn outcome(mut self) -> Result<(), InvokeError> {
        self.to_guest = None;
        while self.from_guest.recv().await.is_some() {}
        (&mut self.outcome)
            .await
            .unwrap_or_else(|_| Err(InvokeError::Internal("the handler task ended".into())))
    }

    /// Cancels the handler: `receive` returns none and `send` fails from now on, and the guest
    /// is cut off if it does not return within the host's cancel grace.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Drop for RunningSocket {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages the client sent before closing reach the guest before `receive` says closed,
    /// and `send` fails from the close on.
    #[tokio::test]
    async fn messages_before_the_close_come_first() -> Result<(), &'static str> {
        let (_done, outcome) = oneshot::channel();
        let (mut socket, mut running) = pair(CancellationToken::new(), outcome);
        let input = running.take_input().ok_or("no input")?;
        for text in ["one", "two"] {
            assert!(input.deliver(Message::Text(text.into())).await);
        }
        input.client_gone();
        assert_eq!(socket.receive().await, Some(Message::Text("one".into())));
        assert_eq!(socket.receive().await, Some(Message::Text("two".into())));
        assert_eq!(socket.receive().await, None);
        assert_eq!(socket.send(Message::Text("late".into())).await, Err(Closed));
        Ok(())
    }
}
