use std::fmt;

/// An error the handler sends to the caller: an HTTP status, a message and an error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The HTTP status, 400 to 599.
    pub status: u16,
    /// Sent as the `error` field of the JSON error body.
    pub message: String,
    /// What kind of error it was (the SDK's `error_type`).
    pub error_type: Option<String>,
}

impl Failure {
    /// A failure with this status and message.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            error_type: None,
        }
    }

    /// A 400: the caller sent something the handler cannot use.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// A 500: the handler itself failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// Names the kind of error, as an exception's class name would.
    pub fn with_error_type(mut self, error_type: impl Into<String>) -> Self {
        self.error_type = Some(error_type.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for Failure {}

impl From<crate::Closed> for Failure {
    fn from(closed: crate::Closed) -> Self {
        // The caller never sees this reply; the status only labels the log line.
        Self::new(499, closed.to_string()).with_error_type("Closed")
    }
}

impl From<crate::ScheduleError> for Failure {
    fn from(error: crate::ScheduleError) -> Self {
        let status = match error {
            crate::ScheduleError::Busy => 503,
            _ => 500,
        };
        Self::new(status, error.to_string()).with_error_type("ScheduleError")
    }
}

impl From<serde_json::Error> for Failure {
    fn from(error: serde_json::Error) -> Self {
        Self::internal(error.to_string()).with_error_type("JSONError")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constructors set the status the caller will see, and the type when asked.
    #[test]
    fn constructors_set_status_and_type() {
        assert_eq!(Failure::bad_request("x").status, 400);
        assert_eq!(Failure::internal("x").status, 500);
        let failure = Failure::new(404, "gone").with_error_type("NotFound");
        assert_eq!(failure.error_type.as_deref(), Some("NotFound"));
        assert_eq!(failure.to_string(), "404 gone");
        assert_eq!(
            Failure::from(crate::Closed).error_type.as_deref(),
            Some("Closed")
        );
    }
}
