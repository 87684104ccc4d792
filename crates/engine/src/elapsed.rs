//! Durations as the Studio, the CLI and messages show them.

/// `HH:MM:SS` of a number of seconds (negative counts as 0).
pub fn format_elapsed(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_minutes_seconds() {
        assert_eq!(format_elapsed(3725.9), "01:02:05");
        assert_eq!(format_elapsed(-3.0), "00:00:00");
    }
}
