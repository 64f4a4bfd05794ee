//! A response body relayed from the outbound runtime to the guest through a bounded channel: the
//! connection is read on the outbound runtime, and the guest's side only takes what arrived.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::mpsc;
use wasmtime_wasi_http::Error;

/// Pieces of a body in flight between the connection and the guest: enough to keep a stream
/// moving while the guest is busy, few enough that a guest that stops reading stops the
/// connection (TCP backpressure) instead of filling the host's memory.
pub(super) const RELAY_FRAMES: usize = 16;

/// One piece of a relayed body, or the error that ended it.
pub(super) type Piece = Result<Frame<Bytes>, Error>;

/// Why a relay ended early, kept beside the channel: an ending must reach the guest even when
/// the channel is full, or a body cut short would read as complete.
type Ending = Arc<Mutex<Option<Error>>>;

/// The outbound runtime's end of a relayed body.
#[derive(Debug)]
pub(super) struct Relay {
    pub pieces: mpsc::Sender<Piece>,
    ending: Ending,
}

impl Relay {
    /// Ends the body with `error` after the pieces already sent.
    pub(super) fn cut(self, error: Error) {
        if let Ok(mut ending) = self.ending.lock() {
            *ending = Some(error);
        }
    }
}

/// The guest's end of a relayed body.
#[derive(Debug)]
pub(super) struct RelayedBody {
    pieces: mpsc::Receiver<Piece>,
    ending: Ending,
}

/// A relayed body and the end the outbound runtime writes to.
pub(super) fn relay() -> (Relay, RelayedBody) {
    let (sender, pieces) = mpsc::channel(RELAY_FRAMES);
    let ending = Ending::default();
    let relay = Relay {
        pieces: sender,
        ending: ending.clone(),
    };
    (relay, RelayedBody { pieces, ending })
}

impl Body for RelayedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.pieces.poll_recv(cx) {
            Poll::Ready(None) => {
                let ending = self.ending.lock().ok().and_then(|mut e| e.take());
                Poll::Ready(ending.map(Err))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// Pieces arrive in order, an error ends the body, and a closed relay ends it cleanly.
    #[tokio::test]
    async fn pieces_arrive_in_order() -> Result<(), Box<dyn std::error::Error>> {
        let (sender, mut body) = relay();
        sender
            .pieces
            .send(Ok(Frame::data(Bytes::from("a"))))
            .await?;
        sender
            .pieces
            .send(Ok(Frame::data(Bytes::from("b"))))
            .await?;
        drop(sender);
        let mut seen = Vec::new();
        while let Some(frame) = body.frame().await {
            seen.push(
                frame
                    .map_err(|e| e.to_string())?
                    .into_data()
                    .unwrap_or_default(),
            );
        }
        assert_eq!(seen, [Bytes::from("a"), Bytes::from("b")]);
        let (sender, mut body) = relay();
        sender
            .pieces
            .send(Err(Error::ConnectionReadTimeout))
            .await?;
        assert!(matches!(
            body.frame().await,
            Some(Err(Error::ConnectionReadTimeout))
        ));
        Ok(())
    }

    /// A body cut while its channel is full still ends in the error, after what was sent, so a
    /// cut-short response never reads as complete.
    #[tokio::test]
    async fn a_cut_body_ends_in_its_error() -> Result<(), Box<dyn std::error::Error>> {
        let (sender, mut body) = relay();
        for _ in 0..RELAY_FRAMES {
            sender.pieces.try_send(Ok(Frame::data(Bytes::from("x"))))?;
        }
        assert!(
            sender
                .pieces
                .try_send(Ok(Frame::data(Bytes::from("y"))))
                .is_err()
        );
        sender.cut(Error::ConnectionTerminated);
        let mut data = 0;
        let last = loop {
            match body.frame().await {
                Some(Ok(_)) => data += 1,
                other => break other,
            }
        };
        assert_eq!(data, RELAY_FRAMES);
        assert!(matches!(last, Some(Err(Error::ConnectionTerminated))));
        assert!(body.frame().await.is_none());
        Ok(())
    }
}
