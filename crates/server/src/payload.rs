//! Reading a request body and checking it is UTF-8 JSON.

use axum::body::{Body, Bytes};
use http_body_util::LengthLimitError;

use crate::config::INLINE_CHECK_LIMIT;
use crate::error::ApiError;
use crate::state::AppState;

/// Reads the body (up to the payload limit) and checks it, returning the JSON text.
pub async fn read(state: &AppState, body: Body) -> Result<String, ApiError> {
    let limit = state.config().max_payload;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large =
            std::error::Error::source(&error).is_some_and(|source| source.is::<LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge(limit)
        } else {
            ApiError::UnreadableBody(error.to_string())
        }
    })?;
    if bytes.len() <= INLINE_CHECK_LIMIT {
        return check(bytes);
    }
    // A large body takes milliseconds to check: that is the worker pool's work, never the
    // control runtime's.
    state
        .host()
        .run_on_pool(move || check(bytes))
        .await
        .unwrap_or_else(|| {
            Err(ApiError::UnreadableBody(
                "the worker pool is shutting down".into(),
            ))
        })
}

/// Checks that `bytes` are UTF-8 and one JSON document, as the SDK does (decode, then parse).
pub fn check(bytes: Bytes) -> Result<String, ApiError> {
    let text = String::from_utf8(Vec::from(bytes)).map_err(|error| {
        let error = error.utf8_error();
        ApiError::InvalidEncoding(format!("invalid UTF-8 at byte {}", error.valid_up_to()))
    })?;
    wasm_agent_host::json::check_document(&text)
        .map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UTF-8 is checked before JSON, and any JSON value passes.
    #[test]
    fn checks_encoding_then_json() {
        assert!(matches!(
            check(Bytes::from_static(b"\x80{}")),
            Err(ApiError::InvalidEncoding(_))
        ));
        assert!(matches!(
            check(Bytes::from_static(b"")),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            check(Bytes::from_static(b"{\"a\": NaN}")),
            Err(ApiError::InvalidJson(_))
        ));
        for ok in ["1", "\"s\"", "null", "[1,2]", "{\"k\": \"wörld\"}"] {
            assert_eq!(check(Bytes::from(ok)).ok().as_deref(), Some(ok));
        }
    }
}
