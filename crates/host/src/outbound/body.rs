//! A response body relayed from the outbound runtime to the guest through a bounded channel: the
//! connection is read on the outbound runtime, and the guest's side only takes what arrived.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::mpsc;
use wasmtime_wasi_http::Error;

/// Pieces of a body in flight between the connection and the guest: enough to keep a stream
/// moving while the guest is busy, few enough that a guest that stops reading stops the
/// connection (TCP backpressure) instead of filling the host's memory.
pub const RELAY_FRAMES: usize = 16;

/// One piece of a relayed body, or the error that ended it.
pub type Piece = Result<Frame<Bytes>, Error>;

/// The guest's end of a relayed body.
#[derive(Debug)]
pub struct RelayedBody {
    pieces: mpsc::Receiver<Piece>,
}

/// A relayed body and the sending end the outbound runtime writes to.
pub fn relay() -> (mpsc::Sender<Piece>, RelayedBody) {
    let (sender, pieces) = mpsc::channel(RELAY_FRAMES);
    (sender, RelayedBody { pieces })
}

impl Body for RelayedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.pieces.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// Pieces arrive in order, an error ends the body, and a closed sender ends it cleanly.
    #[tokio::test]
    async fn pieces_arrive_in_order() -> Result<(), Box<dyn std::error::Error>> {
        let (sender, mut body) = relay();
        sender.send(Ok(Frame::data(Bytes::from("a")))).await?;
        sender.send(Ok(Frame::data(Bytes::from("b")))).await?;
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
        sender.send(Err(Error::ConnectionReadTimeout)).await?;
        assert!(matches!(
            body.frame().await,
            Some(Err(Error::ConnectionReadTimeout))
        ));
        Ok(())
    }
}
