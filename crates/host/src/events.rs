//! The bounded channel that carries a guest's events to the caller.
//!
//! Bounded twice: in count (the mpsc capacity) and in bytes (a semaphore whose permits an event
//! holds until the caller drops it), so neither many small events nor a few huge ones can pile
//! up in the host while the caller is slow. A full channel suspends the guest's `emit`.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

/// One event a guest emitted: one JSON document, as the guest wrote it, with the SSE event name
/// and id it gave, if any.
#[derive(Debug)]
pub struct Event {
    data: String,
    name: Option<String>,
    id: Option<String>,
    // Returns the event's bytes to the channel's budget when the caller is done with it.
    _budget: OwnedSemaphorePermit,
}

impl Event {
    /// The event's JSON text.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The SSE `event:` name, if the guest gave one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The SSE `id:`, if the guest gave one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Takes the JSON text, releasing the event's share of the buffer.
    pub fn into_data(self) -> String {
        self.data
    }
}

/// Why an event was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The caller has gone or cancelled the invocation.
    Closed,
}

/// The guest's end of the channel, kept in the store.
#[derive(Debug)]
pub(crate) struct EventSender {
    events: mpsc::Sender<Event>,
    budget: Arc<Semaphore>,
    budget_bytes: u32,
    cancel: CancellationToken,
}

/// Creates a channel holding at most `count` events and `bytes` bytes of event data.
pub(crate) fn channel(
    count: usize,
    bytes: usize,
    cancel: CancellationToken,
) -> (EventSender, mpsc::Receiver<Event>) {
    let (events, receiver) = mpsc::channel(count.max(1));
    let budget_bytes = u32::try_from(bytes.max(1)).unwrap_or(u32::MAX);
    let sender = EventSender {
        events,
        budget: Arc::new(Semaphore::new(budget_bytes as usize)),
        budget_bytes,
        cancel,
    };
    (sender, receiver)
}

impl EventSender {
    /// Keeps the channel open, whatever becomes of this sender, until the handle is dropped.
    pub(crate) fn hold_open(&self) -> mpsc::Sender<Event> {
        self.events.clone()
    }

    /// Sends one event, waiting while the channel is full; fails once the caller is gone.
    pub(crate) async fn send(
        &self,
        data: String,
        name: Option<String>,
        id: Option<String>,
    ) -> Result<(), SendError> {
        if self.cancel.is_cancelled() {
            return Err(SendError::Closed);
        }
        // An event larger than the whole budget takes all of it, so it still goes through, alone.
        let wanted = u32::try_from(data.len())
            .unwrap_or(u32::MAX)
            .clamp(1, self.budget_bytes);
        let budget = tokio::select! {
            permit = self.budget.clone().acquire_many_owned(wanted) => {
                permit.map_err(|_| SendError::Closed)?
            }
            () = self.events.closed() => return Err(SendError::Closed),
            () = self.cancel.cancelled() => return Err(SendError::Closed),
        };
        let event = Event {
            data,
            name,
            id,
            _budget: budget,
        };
        tokio::select! {
            sent = self.events.send(event) => sent.map_err(|_| SendError::Closed),
            () = self.cancel.cancelled() => Err(SendError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A full byte budget suspends the sender until the receiver drops an event.
    #[tokio::test(start_paused = true)]
    async fn byte_budget_applies_backpressure() -> Result<(), SendError> {
        let (sender, mut receiver) = channel(100, 10, CancellationToken::new());
        sender.send("1234567890".into(), None, None).await?;
        // Time is paused: the timeout fires only once the send can make no more progress, so
        // it proves the send waits, however slow the machine.
        let blocked = tokio::time::timeout(
            Duration::from_millis(50),
            sender.send("1".into(), None, None),
        )
        .await;
        assert!(blocked.is_err(), "the second event should wait for budget");
        let first = receiver.recv().await.map(Event::into_data);
        assert_eq!(first.as_deref(), Some("1234567890"));
        sender.send("1".into(), None, None).await?;
        Ok(())
    }

    /// A dropped receiver makes a waiting sender fail instead of waiting forever.
    #[tokio::test(start_paused = true)]
    async fn dropped_receiver_closes_a_waiting_sender() {
        let (sender, receiver) = channel(1, 1 << 20, CancellationToken::new());
        assert_eq!(sender.send("1".into(), None, None).await, Ok(()));
        let waiting = tokio::spawn(async move { sender.send("2".into(), None, None).await });
        // Time is paused: the sleep ends only once the spawned send has run as far as it can,
        // so the receiver is dropped under a sender that is waiting.
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(receiver);
        assert_eq!(waiting.await.ok(), Some(Err(SendError::Closed)));
    }

    /// Cancellation closes the channel for the guest even while the receiver still exists.
    #[tokio::test]
    async fn cancellation_closes_the_sender() {
        let cancel = CancellationToken::new();
        let (sender, _receiver) = channel(4, 1024, cancel.clone());
        cancel.cancel();
        assert_eq!(
            sender.send("1".into(), None, None).await,
            Err(SendError::Closed)
        );
    }

    /// An event bigger than the whole byte budget still goes through.
    #[tokio::test]
    async fn oversized_event_is_not_refused() {
        let (sender, mut receiver) = channel(4, 4, CancellationToken::new());
        assert_eq!(sender.send("0123456789".into(), None, None).await, Ok(()));
        assert_eq!(
            receiver.recv().await.map(Event::into_data).as_deref(),
            Some("0123456789")
        );
    }
}
