//! ISO-8601 timestamps in the form the Python SDK writes (`2025-01-02T03:04:05.678901Z`).

use std::time::{SystemTime, UNIX_EPOCH};

/// `2025-01-02T03:04:05.678901Z` (UTC, microseconds). Times before 1970 clamp to the epoch.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_micros(1_735_787_045_678_901);
/// assert_eq!(langfuse_tracing_core::__layer::time::iso8601(t), "2025-01-02T03:04:05.678901Z");
/// ```
pub fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let micros = d.subsec_micros();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The IO encoding of a datetime: the ISO string as a JSON string literal, quotes included.
///
/// ```
/// use std::time::UNIX_EPOCH;
/// assert_eq!(langfuse_tracing_core::__layer::time::io_encoded_timestamp(UNIX_EPOCH), "\"1970-01-01T00:00:00.000000Z\"");
/// ```
pub fn io_encoded_timestamp(t: SystemTime) -> String {
    format!("\"{}\"", iso8601(t))
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn leap_days_and_year_ends_format_correctly() {
        let at = |s: u64| iso8601(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000000Z");
        assert_eq!(at(1_704_067_199), "2023-12-31T23:59:59.000000Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00.000000Z");
    }
}
