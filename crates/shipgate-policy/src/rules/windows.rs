//! SG0703: no deployment inside a `[windows] freeze`, nor outside an environment's
//! `allow_windows`.
//!
//! The two apply to different environments: `[windows] freeze` is declared once for the app and
//! names no environment, so it applies to the production environments (a freeze protects users;
//! staging keeps rehearsing); an environment's `allow_windows` names that environment, so it
//! applies there, whether or not it is production.

use jiff::civil::{Date, DateTime, Time};
use shipgate_spec::values::{Date as SpecDate, TimeOfDay, Weekday};
use shipgate_spec::{Freeze, Windows};

use super::Context;
use crate::catalog::FREEZE_WINDOW;
use crate::finding::Finding;

pub(super) fn freeze(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(severity) = context.severity(&FREEZE_WINDOW) else { return };
    let windows = &context.facts.spec.windows;
    let allowed = context.environment.map(|env| env.allow_windows.as_slice()).unwrap_or_default();
    if !allowed.is_empty() && !inside_any(allowed, &windows.timezone, context.facts.now) {
        let names: Vec<String> = allowed.iter().map(|window| format!("`{}`", window.reason)).collect();
        let opens = match next_opening(allowed, &windows.timezone, context.facts.now) {
            Some(at) => {
                format!("; the next opens {} ({})", at.strftime("%a %Y-%m-%d %H:%M"), windows.timezone.as_str())
            }
            None => String::new(),
        };
        out.push(Finding::new(
            &FREEZE_WINDOW,
            severity,
            format!(
                "`{}` takes deployments only inside its allowed windows ({}, {}), and now is outside them{opens}",
                context.facts.environment,
                names.join(", "),
                windows.timezone.as_str()
            ),
            "deploy inside an allowed window, or lift this for one deployment with `--override freeze --reason \"…\"` (recorded in the audit ledger)",
            context.at_environment(Some("allow_windows")),
        ));
        return;
    }
    // `[windows] freeze` names no environment: it guards the production ones.
    if !context.production {
        return;
    }
    let Some((window, ends)) = active_freeze(windows, context.facts.now) else { return };
    let zone = windows.timezone.as_str();
    let until = match ends {
        Some(end) => format!(" until {} ({zone})", end.strftime("%a %Y-%m-%d %H:%M")),
        None => String::new(),
    };
    out.push(Finding::new(
        &FREEZE_WINDOW,
        severity,
        format!("`{}` is frozen now: {}{until}", context.facts.environment, window.reason),
        "deploy after the freeze, or lift it for this deployment with `--override freeze --reason \"…\"` (recorded in the audit ledger)",
        context.at(&["windows"]),
    ));
}

/// The first freeze window `now` falls in, and when it ends (local time), if it can tell.
pub fn active_freeze(windows: &Windows, now: jiff::Timestamp) -> Option<(&Freeze, Option<DateTime>)> {
    let local = windows.timezone.zone().to_datetime(now);
    windows.freeze.iter().find(|window| contains(window, local)).map(|window| (window, end_of(window, local)))
}

/// Whether `now`, read in `zone`, is inside one of `windows`.
pub fn inside_any(windows: &[Freeze], zone: &shipgate_spec::values::TimeZoneName, now: jiff::Timestamp) -> bool {
    let local = zone.zone().to_datetime(now);
    windows.iter().any(|window| contains(window, local))
}

/// When one of the allowed `windows` next opens after `now` (local time, to the minute), looking
/// up to eight days ahead; `None` when none opens that soon (e.g. only on dates far away).
fn next_opening(
    windows: &[Freeze],
    zone: &shipgate_spec::values::TimeZoneName,
    now: jiff::Timestamp,
) -> Option<DateTime> {
    let local = zone.zone().to_datetime(now);
    let mut minute = local.date().to_datetime(Time::constant(local.hour(), local.minute(), 0, 0));
    for _ in 0..(8 * 24 * 60) {
        minute = minute.checked_add(jiff::SignedDuration::from_mins(1)).ok()?;
        if windows.iter().any(|window| contains(window, minute)) {
            return Some(minute);
        }
    }
    None
}

fn weekday(date: Date) -> Weekday {
    match date.weekday() {
        jiff::civil::Weekday::Monday => Weekday::Mon,
        jiff::civil::Weekday::Tuesday => Weekday::Tue,
        jiff::civil::Weekday::Wednesday => Weekday::Wed,
        jiff::civil::Weekday::Thursday => Weekday::Thu,
        jiff::civil::Weekday::Friday => Weekday::Fri,
        jiff::civil::Weekday::Saturday => Weekday::Sat,
        jiff::civil::Weekday::Sunday => Weekday::Sun,
    }
}

fn time(of: TimeOfDay) -> Time {
    Time::constant(of.hour as i8, of.minute as i8, 0, 0)
}

/// Whether the local time is inside the window: every condition it sets holds. With `after`
/// later than `before` the hours span midnight, and the day conditions apply to the day the
/// window began.
fn contains(window: &Freeze, local: DateTime) -> bool {
    let (date, clock) = (local.date(), local.time());
    let (in_hours, day) = match (window.after.map(time), window.before.map(time)) {
        (Some(after), Some(before)) if after > before => {
            if clock >= after {
                (true, date)
            } else if clock < before {
                (true, date.yesterday().unwrap_or(date))
            } else {
                (false, date)
            }
        }
        (after, before) => {
            (after.is_none_or(|after| clock >= after) && before.is_none_or(|before| clock < before), date)
        }
    };
    in_hours && (window.days.is_empty() || window.days.contains(&weekday(day))) && in_dates(window, day)
}

/// Whether `day` is between the window's `from` and `to` (both inclusive). Yearly dates compare
/// month and day, and a range whose end comes before its start spans the new year.
fn in_dates(window: &Freeze, day: Date) -> bool {
    match (window.from, window.to) {
        (Some(SpecDate::On(from)), Some(SpecDate::On(to))) => from <= day && day <= to,
        (Some(from), Some(to)) => {
            let today = (day.month(), day.day());
            let (from, to) = (from.month_day(), to.month_day());
            if from <= to { from <= today && today <= to } else { today >= from || today <= to }
        }
        _ => true,
    }
}

/// When the window ends, for the message: the next `before`, else the day after `to` or after
/// the last consecutive frozen weekday.
fn end_of(window: &Freeze, local: DateTime) -> Option<DateTime> {
    let date = local.date();
    if let Some(before) = window.before.map(time) {
        let day = if local.time() < before { date } else { date.tomorrow().ok()? };
        return Some(day.to_datetime(before));
    }
    match window.to {
        Some(SpecDate::On(to)) => return Some(to.tomorrow().ok()?.to_datetime(Time::midnight())),
        Some(SpecDate::EveryYear { month, day }) => {
            // The next `to` on or after today, then the day after it.
            let mut end = Date::new(date.year(), month, day).ok();
            if end.is_none_or(|end| end < date) {
                end = Date::new(date.year() + 1, month, day).ok();
            }
            return Some(end?.tomorrow().ok()?.to_datetime(Time::midnight()));
        }
        None => {}
    }
    if !window.days.is_empty() {
        let mut day = date;
        for _ in 0..7 {
            day = day.tomorrow().ok()?;
            if !window.days.contains(&weekday(day)) {
                return Some(day.to_datetime(Time::midnight()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(toml: &str) -> Windows {
        let text = format!(
            "[app]\nname = \"a\"\n[artifact]\npath = \"x\"\n[run]\ncommand = [\"./x\"]\n[environments.production]\nlisten = \"127.0.0.1:1\"\n{toml}"
        );
        shipgate_spec::parse_str(&text).unwrap_or_else(|report| panic!("{:#?}", report.diagnostics)).windows
    }

    fn at(instant: &str) -> jiff::Timestamp {
        instant.parse().unwrap()
    }

    #[test]
    fn friday_afternoons_in_berlin() {
        let w = windows(
            "[windows]\ntimezone = \"Europe/Berlin\"\nfreeze = [ { days = [\"fri\"], after = \"15:00\", reason = \"weekend is coming\" } ]\n",
        );
        // Friday 2026-12-04 16:00 in Berlin is 15:00 UTC (CET, +1).
        let (window, end) = active_freeze(&w, at("2026-12-04T15:00:00Z")).unwrap();
        assert_eq!(window.reason, "weekend is coming");
        assert_eq!(end.unwrap().to_string(), "2026-12-05T00:00:00");
        assert!(active_freeze(&w, at("2026-12-04T13:59:59Z")).is_none(), "14:59 Berlin");
        assert!(active_freeze(&w, at("2026-12-04T14:00:00Z")).is_some(), "15:00 Berlin, inclusive");
        assert!(active_freeze(&w, at("2026-12-05T10:00:00Z")).is_none(), "Saturday");
        // In summer (CEST, +2) the same local time is an hour earlier in UTC.
        assert!(active_freeze(&w, at("2026-07-03T13:00:00Z")).is_some(), "Friday 15:00 CEST");
        assert!(active_freeze(&w, at("2026-07-03T12:59:00Z")).is_none(), "Friday 14:59 CEST");
    }

    #[test]
    fn boundaries_hold_on_both_daylight_saving_days() {
        // Sundays 01:30–03:30 local; Berlin springs forward 2026-03-29 02:00→03:00 and falls
        // back 2026-10-25 03:00→02:00.
        let w = windows(
            "[windows]\ntimezone = \"Europe/Berlin\"\nfreeze = [ { days = [\"sun\"], after = \"01:30\", before = \"03:30\", reason = \"maintenance\" } ]\n",
        );
        // Spring: 01:29 CET = 00:29Z out; 01:30 CET = 00:30Z in; 03:29 CEST = 01:29Z in; 03:30 CEST = 01:30Z out.
        assert!(active_freeze(&w, at("2026-03-29T00:29:00Z")).is_none());
        assert!(active_freeze(&w, at("2026-03-29T00:30:00Z")).is_some());
        assert!(active_freeze(&w, at("2026-03-29T01:29:00Z")).is_some());
        assert!(active_freeze(&w, at("2026-03-29T01:30:00Z")).is_none(), "03:30 CEST, only one hour after 01:30 CET");
        // Autumn: 01:30 CEST = 23:30Z (Saturday UTC) in; both 02:xx hours are in; 03:29 CET = 02:29Z in; 03:30 CET = 02:30Z out.
        assert!(active_freeze(&w, at("2026-10-24T23:29:00Z")).is_none());
        assert!(active_freeze(&w, at("2026-10-24T23:30:00Z")).is_some());
        assert!(active_freeze(&w, at("2026-10-25T00:45:00Z")).is_some(), "the first 02:45 (CEST)");
        assert!(active_freeze(&w, at("2026-10-25T01:45:00Z")).is_some(), "the second 02:45 (CET)");
        assert!(active_freeze(&w, at("2026-10-25T02:29:00Z")).is_some());
        assert!(active_freeze(&w, at("2026-10-25T02:30:00Z")).is_none());
    }

    #[test]
    fn yearly_dates_recur_and_may_span_the_new_year() {
        let w = windows(
            "[windows]\ntimezone = \"Europe/Berlin\"\nfreeze = [ { from = \"12-20\", to = \"01-02\", reason = \"holidays\" } ]\n",
        );
        for year in [2026, 2027, 2030] {
            assert!(active_freeze(&w, at(&format!("{year}-12-19T22:59:00Z"))).is_none(), "{year}-12-19 23:59 Berlin");
            let (_, end) = active_freeze(&w, at(&format!("{year}-12-19T23:00:00Z"))).unwrap();
            assert_eq!(end.unwrap().to_string(), format!("{}-01-03T00:00:00", year + 1), "ends after 01-02");
        }
        let (_, end) = active_freeze(&w, at("2027-01-02T12:00:00Z")).unwrap();
        assert_eq!(end.unwrap().to_string(), "2027-01-03T00:00:00");
        assert!(active_freeze(&w, at("2027-01-02T23:00:00Z")).is_none(), "01-03 00:00 Berlin");
        assert!(active_freeze(&w, at("2027-07-01T12:00:00Z")).is_none());
    }

    #[test]
    fn allow_windows_are_read_in_the_windows_time_zone() {
        let w = windows("[windows]\ntimezone = \"America/New_York\"\n");
        let spec = |toml: &str| {
            let text = format!(
                "[app]\nname = \"a\"\n[artifact]\npath = \"x\"\n[run]\ncommand = [\"./x\"]\n[environments.production]\nlisten = \"127.0.0.1:1\"\n{toml}"
            );
            shipgate_spec::parse_str(&text).unwrap_or_else(|report| panic!("{:#?}", report.diagnostics))
        };
        let parsed = spec(
            "allow_windows = [ { days = [\"mon\", \"tue\", \"wed\", \"thu\"], after = \"09:00\", before = \"16:00\", reason = \"office hours\" } ]\n",
        );
        let allowed = &parsed.environments["production"].allow_windows;
        // Monday 2026-11-30 09:00 EST is 14:00Z; 16:00 EST is 21:00Z.
        assert!(!inside_any(allowed, &w.timezone, at("2026-11-30T13:59:00Z")));
        assert!(inside_any(allowed, &w.timezone, at("2026-11-30T14:00:00Z")));
        assert!(!inside_any(allowed, &w.timezone, at("2026-11-30T21:00:00Z")));
        assert!(!inside_any(allowed, &w.timezone, at("2026-12-04T15:00:00Z")), "Friday");
    }

    #[test]
    fn dates_and_overnight_hours() {
        let w = windows(
            "[windows]\ntimezone = \"UTC\"\nfreeze = [ { from = \"2026-12-24\", to = \"2026-12-26\", reason = \"holidays\" }, { after = \"22:00\", before = \"06:00\", days = [\"mon\"], reason = \"night\" } ]\n",
        );
        assert!(active_freeze(&w, at("2026-12-23T23:59:00Z")).is_none());
        let (window, end) = active_freeze(&w, at("2026-12-26T12:00:00Z")).unwrap();
        assert_eq!((window.reason.as_str(), end.unwrap().to_string()), ("holidays", "2026-12-27T00:00:00".to_owned()));
        // Monday 2026-11-30 23:00 and Tuesday 05:59 belong to Monday night; Tuesday 23:00 does not.
        assert!(active_freeze(&w, at("2026-11-30T23:00:00Z")).is_some());
        assert!(active_freeze(&w, at("2026-12-01T05:59:00Z")).is_some());
        assert!(active_freeze(&w, at("2026-12-01T23:00:00Z")).is_none());
    }
}
