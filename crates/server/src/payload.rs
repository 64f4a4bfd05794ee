//! Reading a request body, no larger than the payload limit and no slower than the minimum
//! rate, and checking it is UTF-8 JSON.

use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use http_body_util::BodyExt;
use tokio::time::Instant;
use wasm_agent_contract::json::PayloadError;
use wasm_agent_host::PayloadCheck;

use crate::error::ApiError;
use crate::state::AppState;

/// Reads the body (up to the payload limit, at the minimum rate) and checks it, returning the
/// JSON text. A body declared larger than the limit is refused before any of it is read: the
/// client learns at once, instead of after sending it (or never, if it waits for
/// `100 Continue`), and the request is never admitted.
pub(crate) async fn read(state: &AppState, body: Body) -> Result<String, ApiError> {
    let config = state.config();
    let limit = config.max_payload;
    if body.size_hint().lower() > limit as u64 {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let pace = Pace {
        timeout: config.body_timeout,
        min_rate: config.body_min_rate,
    };
    let bytes = collect(body, limit, pace).await?;
    // A large body is checked on the worker pool: its size is the client's to choose.
    match state.host().check_payload(Vec::from(bytes)).await {
        Ok(text) => Ok(text),
        Err(PayloadCheck::Refused(error @ PayloadError::Encoding(_))) => {
            Err(ApiError::InvalidEncoding(error.to_string()))
        }
        Err(PayloadCheck::Refused(PayloadError::Json(why))) => Err(ApiError::InvalidJson(why)),
        Err(PayloadCheck::Stopped) => Err(ApiError::UnreadableBody(
            "the worker pool is shutting down".into(),
        )),
    }
}

/// How fast a body must arrive. A minimum rate rather than only an idle timeout: a client that
/// sends a byte a second never lets an idle timeout expire, and holds its connection for as
/// long as its declared length lasts. The timeout bounds a stall as well, so a body that
/// earned much time by arriving fast cannot then stop for all of it.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// The longest stall, and the head start over `min_rate`.
    timeout: Duration,
    /// Bytes a second.
    min_rate: u64,
}

impl Pace {
    /// When the next bytes must have come, for a body begun at `started` that has sent
    /// `received` bytes, the last of them at `last`.
    fn deadline(self, started: Instant, last: Instant, received: u64) -> Instant {
        let earned = Duration::from_secs_f64(received as f64 / self.min_rate as f64);
        (last + self.timeout).min(started + self.timeout + earned)
    }
}

/// Reads `body` whole, refusing it past `limit` bytes or once it falls behind `pace`.
async fn collect(mut body: Body, limit: usize, pace: Pace) -> Result<Bytes, ApiError> {
    let started = Instant::now();
    let mut last = started;
    let mut chunks = Vec::new();
    let mut received = 0;
    loop {
        let deadline = pace.deadline(started, last, received as u64);
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(ApiError::BodyTimeout),
            Ok(None) => break,
            Ok(Some(frame)) => {
                frame.map_err(|error| ApiError::UnreadableBody(error.to_string()))?
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len();
        if received > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        last = Instant::now();
        chunks.push(data);
    }
    // Most bodies come in one frame, which is kept as it is.
    if chunks.len() == 1 {
        return Ok(chunks.swap_remove(0));
    }
    Ok(Bytes::from(chunks.concat()))
}

#[cfg(test)]
mod tests {
    use futures_util::{StreamExt, stream};

    use super::*;

    const PACE: Pace = Pace {
        timeout: Duration::from_secs(10),
        min_rate: 1000,
    };

    /// A body has the timeout as a head start and earns a second for each `min_rate` bytes,
    /// but never waits longer than the timeout since its last bytes.
    #[test]
    fn the_deadline_follows_the_rate_and_the_last_bytes() {
        let started = Instant::now();
        let secs = |n: u64| started + Duration::from_secs(n);
        assert_eq!(PACE.deadline(started, started, 0), secs(10));
        assert_eq!(PACE.deadline(started, secs(4), 5000), secs(14));
        assert_eq!(PACE.deadline(started, secs(1), 50_000), secs(11), "stalled");
        assert_eq!(
            PACE.deadline(started, secs(9), 3),
            started + Duration::from_millis(10_003)
        );
    }

    /// A body that arrives in pieces is read whole; one past the limit is refused, and one that
    /// stalls is answered 408, after exactly its stall timeout on the paused clock.
    #[tokio::test(start_paused = true)]
    async fn collects_refuses_and_times_out() {
        let pieces = |parts: Vec<&'static str>| {
            Body::from_stream(stream::iter(
                parts
                    .into_iter()
                    .map(|part| Ok::<_, std::io::Error>(Bytes::from(part))),
            ))
        };
        let whole = collect(pieces(vec!["{\"a\"", ": 1}"]), 100, PACE).await;
        assert_eq!(whole.ok().as_deref(), Some(&b"{\"a\": 1}"[..]));
        let large = collect(pieces(vec!["12345", "67890"]), 8, PACE).await;
        assert!(matches!(large, Err(ApiError::PayloadTooLarge(8))));
        let quick = Pace {
            timeout: Duration::from_millis(50),
            ..PACE
        };
        let stalled = Body::from_stream(
            stream::iter([Ok::<_, std::io::Error>(Bytes::from("{"))]).chain(stream::pending()),
        );
        let started = Instant::now();
        let stalled = collect(stalled, 100, quick).await;
        assert!(matches!(stalled, Err(ApiError::BodyTimeout)));
        assert_eq!(started.elapsed(), quick.timeout);
        assert_eq!(ApiError::BodyTimeout.status(), 408);
    }
}
