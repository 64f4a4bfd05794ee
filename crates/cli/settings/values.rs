//! A config file's values read with the parsers the flags use, and written back in the same
//! units. A value a flag takes as text (`"30s"`, `"64MiB"`) is text in the file too; a size may
//! also be a TOML integer, read as the same digits would be from a flag.

use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

use crate::outbound::parse_env;
use crate::units::{
    duration_text, parse_bytes, parse_duration, parse_human_duration, parse_size, size_text,
};

/// The text of a value, for a parser: a string, or an integer's digits where `integers`.
fn text<'de, D: Deserializer<'de>>(deserializer: D, integers: bool) -> Result<String, D::Error> {
    match toml::Value::deserialize(deserializer)? {
        toml::Value::String(text) => Ok(text),
        toml::Value::Integer(number) if integers => Ok(number.to_string()),
        other if integers => Err(D::Error::custom(format!(
            "expected a string or an integer, found {}",
            other.type_str()
        ))),
        other => Err(D::Error::custom(format!(
            "expected a string, found {}",
            other.type_str()
        ))),
    }
}

/// `--timeout` and the other durations that must be more than zero.
pub(super) mod duration {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        parse_duration(&text(deserializer, false)?)
            .map(Some)
            .map_err(D::Error::custom)
    }

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_str(&duration_text(*duration)),
            None => serializer.serialize_none(),
        }
    }
}

/// The client timeouts, whose range (zero included) is checked with the other settings.
pub(super) mod human_duration {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<humantime::Duration>, D::Error> {
        parse_human_duration(&text(deserializer, false)?)
            .map(Some)
            .map_err(D::Error::custom)
    }

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<humantime::Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_str(&duration_text(**duration)),
            None => serializer.serialize_none(),
        }
    }
}

/// Sizes that must be more than zero: `"64MiB"`, or a number of bytes.
pub(super) mod size {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u64>, D::Error> {
        parse_size(&text(deserializer, true)?)
            .map(Some)
            .map_err(D::Error::custom)
    }

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<u64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_str(&size_text(*bytes)),
            None => serializer.serialize_none(),
        }
    }
}

/// `--body-min-rate`, whose range (zero included) is checked with the other settings.
pub(super) mod bytes {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u64>, D::Error> {
        parse_bytes(&text(deserializer, true)?)
            .map(Some)
            .map_err(D::Error::custom)
    }

    pub(crate) use super::size::serialize;
}

/// `--max-async-tasks`: at least one, as its flag's parser requires.
pub(super) mod positive {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<usize>, D::Error> {
        match usize::deserialize(deserializer)? {
            0 => Err(D::Error::custom("must be at least 1")),
            count => Ok(Some(count)),
        }
    }

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<usize>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(value, serializer)
    }
}

/// `--env` grants: a list of `"NAME=VALUE"`, as the flag takes them.
pub(super) mod env_grants {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<(String, String)>>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|grant| parse_env(grant).map_err(D::Error::custom))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Vec<(String, String)>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let grants = value.as_ref().map(|grants| {
            grants
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
        });
        serde::Serialize::serialize(&grants, serializer)
    }
}
