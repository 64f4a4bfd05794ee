//! A guest's request body that the host will not send, or no longer can, read and thrown away,
//! a little and briefly.
//!
//! A guest writes its body after `handle` returns, while the request is being sent. If the host
//! refuses the request or its connection fails, nobody reads that body, and the guest's next
//! write fails with a broken pipe instead of the error the request got. Some guests cannot
//! bear that: StarlingMonkey (componentize-js) aborts the instance when a `fetch` body write
//! fails. Reading the body to its end, within a bound, lets every guest see the real error.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, WasiBody};

/// Bytes of an unsent body read before it is dropped: more than a model request's prompt,
/// little enough that a guest cannot make the host read forever.
const DRAIN_LIMIT: usize = 1 << 20;
/// How long an unsent body is read for: a guest writes its body straight after `handle`, so
/// a second is plenty, and a guest that stops writing cannot hold a task longer.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Reads `body`, within the bounds, and drops it.
pub(super) async fn drain(mut body: WasiBody) {
    let read = async {
        let mut read = 0;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > DRAIN_LIMIT {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// A request body that, dropped before its end (the connection failed before it was sent),
/// is drained on the runtime it was dropped on.
pub(super) struct DrainOnDrop {
    body: Option<WasiBody>,
    ended: bool,
}

impl DrainOnDrop {
    /// Wraps the body a guest is writing.
    pub(super) fn new(body: WasiBody) -> Self {
        Self {
            body: Some(body),
            ended: false,
        }
    }
}

impl Body for DrainOnDrop {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let Some(body) = self.body.take() else { return };
        if body.is_end_stream() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(body));
        }
    }
}

impl std::fmt::Debug for DrainOnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrainOnDrop")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body::{Body, Frame};
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;
    use wasmtime_wasi_http::Error;

    use super::DrainOnDrop;

    /// A body fed by a channel of one, as a guest's is: each send waits for a read.
    struct Fed(mpsc::Receiver<Bytes>);

    impl Body for Fed {
        type Data = Bytes;
        type Error = Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
            self.0
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
        }
    }

    fn channel_body() -> (mpsc::Sender<Bytes>, DrainOnDrop) {
        let (sender, receiver) = mpsc::channel(1);
        (sender, DrainOnDrop::new(Fed(receiver).boxed_unsync()))
    }

    #[tokio::test]
    async fn a_body_dropped_unread_is_read_to_its_end() {
        let (sender, body) = channel_body();
        drop(body);
        for _ in 0..4 {
            let sent = tokio::time::timeout(Duration::from_secs(5), sender.send(Bytes::from("x")));
            assert!(matches!(sent.await, Ok(Ok(()))), "the writer was cut off");
        }
    }

    #[tokio::test]
    async fn a_body_read_to_its_end_is_left_alone() {
        let (sender, mut body) = channel_body();
        sender.send(Bytes::from("x")).await.unwrap();
        drop(sender);
        while body.frame().await.is_some() {}
        drop(body);
    }
}
