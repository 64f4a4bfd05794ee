//! Durations and byte sizes as an operator writes them in a flag or an environment variable
//! (`500ms`, `15m`, `64MiB`, `100MB`), parsed with the error text the command line shows.

use std::time::Duration;

/// Parses `500ms`, `30s`, `15m`, `1h 30m`; zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{e} (write a duration such as 500ms, 30s or 15m)"))?;
    if duration.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(duration)
}

/// Parses a duration for a flag whose default is a library's `Duration` constant: this type
/// prints in `--help` as it is written (`10s`), so the default has its one home there. Its
/// range, zero included, is checked with the other flags (exit status 64).
pub fn parse_human_duration(text: &str) -> Result<humantime::Duration, String> {
    text.parse()
        .map_err(|e| format!("{e} (write a duration such as 500ms, 30s or 15m)"))
}

/// Parses `64MiB`, `1GiB`, `100MB`, `65536`; zero is refused.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let size = parse_bytes(text)?;
    if size == 0 {
        return Err("must be more than zero".into());
    }
    Ok(size)
}

/// Parses a size as [`parse_size`] does, leaving its range, zero included, to be checked with
/// the other flags (exit status 64). A size past 64 bits is refused: bytesize clamps it to
/// `u64::MAX`, which would turn a typo such as `405E` into "no limit".
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize = text
        .parse()
        .map_err(|e| format!("{e} (write a size such as 64MiB or 1GiB)"))?;
    // A product past 64 bits is clamped to exactly u64::MAX, a value no unit but bytes can
    // reach; written as a plain number it is real.
    if size.as_u64() == u64::MAX && text.parse::<u64>().is_err() {
        return Err(format!("`{text}` is more than 16EiB"));
    }
    Ok(size.as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations and sizes are read in the units the help text promises.
    #[test]
    fn parses_human_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("lots").is_err());
    }

    /// A size past 64 bits is refused, not clamped; the largest one written in bytes is kept.
    #[test]
    fn refuses_sizes_past_64_bits() {
        assert_eq!(parse_bytes("405E"), Err("`405E` is more than 16EiB".into()));
        assert!(parse_bytes("16EiB").is_err());
        assert!(parse_bytes("18446744073709551616.5 B").is_err());
        assert_eq!(parse_bytes("15EiB"), Ok(15 << 60));
        assert_eq!(parse_bytes("18446744073709551615"), Ok(u64::MAX));
    }
}
