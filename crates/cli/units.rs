//! Durations and sizes as an operator writes them: parsed by the contract crate, where the
//! parsers are fuzzed, and written back here in the same units, so a default shown by `--help`
//! or printed by `--print-config` reads as a person would write it and parses to itself.

use std::time::Duration;

pub(crate) use wasm_agent_contract::units::{
    parse_bytes, parse_duration, parse_human_duration, parse_size,
};

/// Binary and decimal units, largest first, as `parse_size` reads them.
const SIZE_UNITS: [(u64, &str); 12] = [
    (1 << 60, "EiB"),
    (1_000_000_000_000_000_000, "EB"),
    (1 << 50, "PiB"),
    (1_000_000_000_000_000, "PB"),
    (1 << 40, "TiB"),
    (1_000_000_000_000, "TB"),
    (1 << 30, "GiB"),
    (1_000_000_000, "GB"),
    (1 << 20, "MiB"),
    (1_000_000, "MB"),
    (1 << 10, "KiB"),
    (1_000, "KB"),
];

/// `duration` as `parse_duration` reads it: `15m`, `1h`, `1m 15s`, `500ms`.
pub(crate) fn duration_text(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// `bytes` in the unit that writes it exactly with the smallest number (`1GiB`, `100MB`,
/// `64KiB`), or as a plain number when no unit divides it.
pub(crate) fn size_text(bytes: u64) -> String {
    SIZE_UNITS
        .iter()
        .filter(|(unit, _)| bytes != 0 && bytes.is_multiple_of(*unit))
        .min_by_key(|(unit, _)| bytes / unit)
        .map_or_else(
            || bytes.to_string(),
            |(unit, name)| format!("{}{name}", bytes / unit),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes are written in the unit an operator would choose, and parse back to themselves.
    #[test]
    fn sizes_are_written_exactly() {
        for (bytes, text) in [
            (1 << 30, "1GiB"),
            (100_000_000, "100MB"),
            (64 << 10, "64KiB"),
            (16 << 20, "16MiB"),
            (1_024_000, "1000KiB"),
            (1500, "1500"),
            (0, "0"),
            (u64::MAX, "18446744073709551615"),
            (15 << 60, "15EiB"),
        ] {
            assert_eq!(size_text(bytes), text);
            assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
        }
    }

    /// Durations are written as humantime reads them, and parse back to themselves.
    #[test]
    fn durations_are_written_exactly() {
        for (duration, text) in [
            (Duration::from_secs(15 * 60), "15m"),
            (Duration::from_secs(8 * 60 * 60), "8h"),
            (Duration::from_secs(75), "1m 15s"),
            (Duration::from_millis(500), "500ms"),
        ] {
            assert_eq!(duration_text(duration), text);
            assert_eq!(parse_duration(text), Ok(duration), "{text}");
        }
    }
}
