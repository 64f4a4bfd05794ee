//! A value the host holds for a guest without ever showing it: a credential.

/// A secret string: printed as `***` by `Debug` and `Display`, so that no log line or error
/// message built from a configuration can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neither formatting shows the value.
    #[test]
    fn formatting_hides_the_value() {
        let secret = Secret::new("sk-live-123");
        assert!(!format!("{secret:?} {secret}").contains("sk-live"));
        assert_eq!(secret.expose(), "sk-live-123");
    }
}
