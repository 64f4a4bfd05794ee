use serde::Serialize;

use crate::Failure;

/// Marks a handler that has sent everything as events: nothing follows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Done;

/// What a handler may return: any `Serialize` value (sent as JSON) or [`Done`].
pub trait Reply {
    /// The JSON text to send after any events, or none.
    fn into_json(self) -> Result<Option<String>, Failure>;
}

impl<T: Serialize> Reply for T {
    fn into_json(self) -> Result<Option<String>, Failure> {
        Ok(Some(serde_json::to_string(&self)?))
    }
}

impl Reply for Done {
    fn into_json(self) -> Result<Option<String>, Failure> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any Serialize value becomes its JSON text; `Done` sends nothing.
    #[test]
    fn replies_serialize_or_send_nothing() {
        assert_eq!(
            serde_json::json!({"a": 1}).into_json(),
            Ok(Some("{\"a\":1}".into()))
        );
        assert_eq!("text".into_json(), Ok(Some("\"text\"".into())));
        assert_eq!(().into_json(), Ok(Some("null".into())));
        assert_eq!(Done.into_json(), Ok(None));
    }
}
