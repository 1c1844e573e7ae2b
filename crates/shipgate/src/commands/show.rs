//! How what a server answers is shown to people: escaped text, short times, durations, tables.

use std::time::Duration;

/// Control characters escaped, so that nothing a server sends can drive the reader's terminal.
pub fn printable(text: &str) -> String {
    if text.chars().any(char::is_control) { text.escape_debug().to_string() } else { text.to_owned() }
}

/// `3m12s`, `850ms`, `1h2m`: the two largest units.
pub fn duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (hours, minutes) {
        (0, 0) if millis < 10_000 => format!("{:.1}s", duration.as_secs_f64()),
        (0, 0) => format!("{seconds}s"),
        (0, minutes) => format!("{minutes}m{seconds:02}s"),
        (hours, minutes) => format!("{hours}h{minutes:02}m"),
    }
}

fn timestamp(time: &str) -> Option<jiff::Timestamp> {
    time.parse().ok()
}

/// How long from one RFC 3339 time to another; `None` when either is missing or unreadable.
pub fn between(start: &str, end: &str) -> Option<Duration> {
    let (start, end) = (timestamp(start)?, timestamp(end)?);
    Duration::try_from(end.duration_since(start)).ok()
}

/// How long ago an RFC 3339 time was (zero when it is in the future).
pub fn since(time: &str) -> Option<Duration> {
    Some(Duration::try_from(jiff::Timestamp::now().duration_since(timestamp(time)?)).unwrap_or_default())
}

/// `2026-05-04 12:03:04Z`: an RFC 3339 time to the second, as written by the server.
pub fn time(time: &str) -> String {
    match timestamp(time) {
        Some(stamp) => stamp.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        None => printable(time),
    }
}

/// `12:03:04`: the time of day (UTC) of an RFC 3339 time.
pub fn clock(time: &str) -> String {
    match timestamp(time) {
        Some(stamp) => stamp.strftime("%H:%M:%S").to_string(),
        None => printable(time),
    }
}

/// A weight in percent, without trailing zeros: `5%`, `12.5%`.
pub fn percent(weight: f64) -> String {
    let text = format!("{weight:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// Rows under a header, each column as wide as its widest cell; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (index, cell) in cells.enumerate() {
            if index > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = widths.get(index).copied().unwrap_or(0).saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        let mut text = text.trim_end().to_owned();
        text.push('\n');
        text
    };
    let mut text = line(&mut header.iter().copied());
    for row in rows {
        text.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_show_the_two_largest_units() {
        let cases =
            [(0, "0ms"), (850, "850ms"), (1_500, "1.5s"), (42_000, "42s"), (192_000, "3m12s"), (3_720_000, "1h02m")];
        for (millis, shown) in cases {
            assert_eq!(duration(Duration::from_millis(millis)), shown);
        }
    }

    #[test]
    fn weights_lose_trailing_zeros() {
        for (weight, shown) in [(5.0, "5%"), (12.5, "12.5%"), (33.33, "33.33%"), (100.0, "100%"), (0.0, "0%")] {
            assert_eq!(percent(weight), shown);
        }
    }

    #[test]
    fn times_and_spans_come_from_rfc3339() {
        assert_eq!(between("2026-05-04T12:00:00Z", "2026-05-04T12:03:12Z"), Some(Duration::from_secs(192)));
        assert_eq!(between("2026-05-04T12:00:00Z", "soon"), None);
        assert_eq!(time("2026-05-04T12:03:04.123Z"), "2026-05-04 12:03:04Z");
        assert_eq!(clock("2026-05-04T12:03:04Z"), "12:03:04");
        assert_eq!(clock("garbage\u{1b}"), "garbage\\u{1b}");
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["a".to_owned(), "long value".to_owned(), "x".to_owned()],
            vec!["bbb".to_owned(), "v".to_owned(), String::new()],
        ];
        assert_eq!(table(&["ID", "V", "LAST"], &rows), "ID   V           LAST\na    long value  x\nbbb  v\n");
    }
}
