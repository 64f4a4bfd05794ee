//! Text cut to a size in bytes, for what a guest hands the host without a bound of its own
//! (a panic message, an error a span or a close frame repeats).

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut at = max;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::cut;

    /// Short text is kept whole; long text is cut before a character it would split.
    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(cut("short".into(), 10), "short");
        assert_eq!(cut("abcdef".into(), 3), "abc");
        // 'é' is two bytes: a cut at 2 would split it.
        assert_eq!(cut("aé".into(), 2), "a");
        assert_eq!(cut(String::new(), 0), "");
    }
}
