//! The one duration grammar of Ringway, for configuration files, command-line flags and log
//! queries alike: whole numbers with units, largest unit first, each unit at most once —
//! `250ms`, `5s`, `2m`, `1h30m`, `2d`. No bare numbers (is `5` seconds or milliseconds?), no
//! fractions, signs or spaces.

use std::time::Duration;

/// Units, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

const HINT: &str =
    "expected whole numbers with units (ms, s, m, h, d), e.g. \"250ms\", \"5s\", \"2m\", \"1h30m\"";

/// Parses a duration (see the module documentation), or says what is wrong with the text.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| Err(format!("invalid duration {text:?}: {why}"));
    if text.is_empty() {
        return invalid(HINT);
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    // Index into UNITS of the next unit allowed (units must come largest first, once each).
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return invalid(HINT);
        }
        let Ok(n) = rest[..digits].parse::<u64>() else {
            return invalid("number too large");
        };
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        if unit.is_empty() {
            return invalid(&format!("missing unit; {HINT}"));
        }
        let Some(i) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return invalid(HINT);
        };
        if i < next_unit {
            return invalid(&format!("units must come largest first, each once; {HINT}"));
        }
        next_unit = i + 1;
        let Some(ms) = n
            .checked_mul(UNITS[i].1)
            .and_then(|ms| total_ms.checked_add(ms))
        else {
            return invalid("number too large");
        };
        total_ms = ms;
    }
    Ok(Duration::from_millis(total_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_alone_and_combined() {
        let ok = [
            ("250ms", Duration::from_millis(250)),
            ("0s", Duration::ZERO),
            ("5s", Duration::from_secs(5)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("2d", Duration::from_secs(172_800)),
            ("1h30m", Duration::from_secs(5400)),
            ("1m30s500ms", Duration::from_millis(90_500)),
            ("1d2h", Duration::from_secs(93_600)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        for text in [
            "",
            "5",
            "s",
            "5 s",
            " 5s",
            "5s ",
            "1.5s",
            "-1s",
            "+1s",
            "5sec",
            "5S",
            "15w",
            "1m1h",
            "1s1s",
            "1h 30m",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} accepted");
        }
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("30m1h")
            .unwrap_err()
            .contains("largest first"));
        assert!(parse_duration("999999999999999999h")
            .unwrap_err()
            .contains("too large"));
    }
}
