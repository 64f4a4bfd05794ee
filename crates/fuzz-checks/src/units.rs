//! Duration and size flags: parsing never panics, what parses prints back to the same value,
//! and a size too large for 64 bits is refused rather than clamped.
//!
//! Input: the flag's text.

use wasm_agent_contract::units::{parse_bytes, parse_duration, parse_human_duration, parse_size};

/// Checks every unit parser against `data` as text.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_durations(&text);
    check_sizes(&text);
}

fn check_durations(text: &str) {
    if let Ok(duration) = parse_duration(text) {
        assert!(!duration.is_zero(), "{text:?} parsed as zero");
        let printed = humantime::format_duration(duration).to_string();
        assert_eq!(
            parse_duration(&printed),
            Ok(duration),
            "{text:?} printed {printed:?}"
        );
    }
    if let Ok(duration) = parse_human_duration(text) {
        let printed = duration.to_string();
        assert_eq!(
            parse_human_duration(&printed).ok(),
            Some(duration),
            "{text:?} printed {printed:?}"
        );
    }
}

fn check_sizes(text: &str) {
    let parsed = parse_bytes(text);
    if let Ok(size) = parsed {
        assert_eq!(parse_bytes(&size.to_string()), Ok(size), "{text:?}");
    }
    match parse_size(text) {
        Ok(size) => assert!(size > 0 && parsed == Ok(size), "{text:?}"),
        Err(_) => assert!(matches!(parsed, Err(_) | Ok(0)), "{text:?}"),
    }
    if let Some(least) = least_value(text)
        && least > u128::from(u64::MAX)
    {
        assert!(
            parsed.is_err(),
            "{text:?} overflows but parsed as {parsed:?}"
        );
    }
}

/// A lower bound on the size `text` writes, computed exactly, when it has the form
/// `<digits>[.<digits>][ ]<unit>`: the whole part times the unit.
fn least_value(text: &str) -> Option<u128> {
    let number_end = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let whole = number.split('.').next()?.trim_start_matches('0');
    let factor = unit_factor(unit.trim_start())?;
    if whole.is_empty() {
        return Some(0);
    }
    // Past 39 digits a whole part alone is beyond u128; any unit keeps it beyond u64.
    let whole: u128 = whole.parse().unwrap_or(u128::MAX);
    Some(whole.saturating_mul(factor))
}

/// The bytes in `unit`, by the units bytesize reads (case-insensitive, `B` optional).
fn unit_factor(unit: &str) -> Option<u128> {
    let unit = unit.to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let (prefix, binary) = match unit.strip_suffix('i') {
        Some(prefix) if !prefix.is_empty() => (prefix, true),
        _ => (unit, false),
    };
    let power = match prefix {
        "" if !binary => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    let base: u128 = if binary { 1024 } else { 1000 };
    Some(base.pow(power))
}
