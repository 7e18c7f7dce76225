//! Dates, times and zones as ksqlDB's date functions see them: Java
//! `DateTimeFormatter` patterns, `ZoneId` names, and `TimeUnit` units.
//!
//! ksqlDB hands the pattern of `PARSE_TIMESTAMP(s, 'yyyy-MM-dd HH:mm')` to
//! Java verbatim, so scripts carry Java's pattern letters, not strftime's. A
//! [`Pattern`] is such a pattern compiled once: a list of literal text and
//! fields (`yyyy`, `MM`, `SSS`, `X`, ...), with `[...]` optional sections.
//! It formats a [`Moment`] and parses text back into one; a [`Zone`] turns
//! the wall-clock reading into an instant.
//!
//! ```
//! use ddsql_sql::functions::datetime::{Pattern, Zone};
//! let p = Pattern::compile("yyyy-MM-dd'T'HH:mm:ss.SSSX").unwrap();
//! let utc = Zone::parse("UTC").unwrap();
//! let ms = p.parse_timestamp("2021-03-04T05:06:07.089+01", &utc).unwrap();
//! assert_eq!(ms, 1_614_830_767_089);
//! let paris = Zone::parse("Europe/Paris").unwrap();
//! assert_eq!(p.format_timestamp(ms, &paris).unwrap(), "2021-03-04T05:06:07.089+01");
//! // Adjacent numbers split by their widths, as in Java.
//! let days = Pattern::compile("yyyyMMdd").unwrap().parse_date("20220202").unwrap();
//! assert_eq!(days, 19_025);
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, TimeZone, Timelike,
};
use chrono_tz::Tz;

use super::ScalarFunc as F;
use crate::eval::EvalError;
use crate::types::Value;

const MS_PER_DAY: i64 = 86_400_000;

/// A time zone: a fixed offset (`+05:30`, `UTC`) or an IANA region
/// (`America/Los_Angeles`), whose offset depends on the instant.
#[derive(Clone, Debug, PartialEq)]
pub enum Zone {
    Fixed(FixedOffset),
    Region(Tz),
}

impl Zone {
    pub fn utc() -> Zone {
        Zone::Fixed(FixedOffset::east_opt(0).expect("zero offset"))
    }

    /// Reads a zone as Java's `ZoneId.of` does: `Z`, an offset, `UTC`/`GMT`
    /// with or without an offset, or a region name.
    pub fn parse(id: &str) -> Result<Zone, String> {
        let t = id.trim();
        let bad = || {
            format!(
                "unknown time zone '{id}'; use a region such as 'America/Los_Angeles' or an offset such as '+05:30'"
            )
        };
        // `+05:30`, or `UTC+05:30` / `GMT-8` / `UT+1` with the prefix cut.
        let offset = ["UTC", "GMT", "UT", ""]
            .iter()
            .find_map(|p| t.strip_prefix(p).filter(|r| r.starts_with(['+', '-'])));
        if let Some(rest) = offset {
            return parse_offset_text(rest)
                .filter(|(_, used)| *used == rest.len())
                .map(|(o, _)| Zone::Fixed(o))
                .ok_or_else(bad);
        }
        if ["Z", "UTC", "GMT", "UT"]
            .iter()
            .any(|u| t.eq_ignore_ascii_case(u))
        {
            return Ok(Zone::utc());
        }
        if let Some(region) = abbreviation(t) {
            return Ok(Zone::Region(region));
        }
        Tz::from_str_insensitive(t)
            .map(Zone::Region)
            .map_err(|_| bad())
    }

    /// The offset in force at a UTC instant.
    fn offset_at(&self, utc: &NaiveDateTime) -> FixedOffset {
        match self {
            Zone::Fixed(o) => *o,
            Zone::Region(tz) => tz.offset_from_utc_datetime(utc).fix(),
        }
    }

    /// The zone's short name at a UTC instant (`PST`, `KST`, `+05:30`).
    fn short_name(&self, utc: &NaiveDateTime) -> String {
        match self {
            Zone::Fixed(o) => offset_name(*o),
            Zone::Region(tz) => tz.offset_from_utc_datetime(utc).to_string(),
        }
    }

    /// The UTC instant of a wall-clock reading. As Java does, an ambiguous
    /// reading (clocks turned back) takes the earlier offset, and a reading
    /// in a gap (clocks turned forward) is moved later by the gap's length.
    fn to_utc(&self, local: &NaiveDateTime) -> NaiveDateTime {
        match self {
            Zone::Fixed(o) => *local - *o,
            Zone::Region(tz) => match tz.from_local_datetime(local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.naive_utc(),
                LocalResult::None => {
                    let before = tz.offset_from_utc_datetime(&(*local - Duration::days(1)));
                    *local - before.fix()
                }
            },
        }
    }

    fn id(&self) -> String {
        match self {
            Zone::Fixed(o) => offset_name(*o),
            Zone::Region(tz) => tz.name().to_string(),
        }
    }
}

/// Common abbreviations, read as the regions they usually mean.
fn abbreviation(name: &str) -> Option<Tz> {
    Some(match name.to_ascii_uppercase().as_str() {
        "PST" | "PDT" => Tz::America__Los_Angeles,
        "MST" | "MDT" => Tz::America__Denver,
        "CST" | "CDT" => Tz::America__Chicago,
        "EST" | "EDT" => Tz::America__New_York,
        "BST" => Tz::Europe__London,
        "CET" | "CEST" => Tz::Europe__Paris,
        "JST" => Tz::Asia__Tokyo,
        "KST" => Tz::Asia__Seoul,
        "IST" => Tz::Asia__Kolkata,
        _ => return None,
    })
}

fn offset_name(o: FixedOffset) -> String {
    let secs = o.local_minus_utc();
    if secs == 0 {
        return "Z".into();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.abs();
    if a % 60 != 0 {
        format!("{sign}{:02}:{:02}:{:02}", a / 3600, a / 60 % 60, a % 60)
    } else {
        format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
    }
}

/// `+HH`, `+HHMM`, `+HH:MM`, `+HH:MM:SS` (or `-`); returns the bytes used.
fn parse_offset_text(s: &str) -> Option<(FixedOffset, usize)> {
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = |at: usize, n: usize| -> Option<i32> {
        let d = b.get(at..at + n)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(d).ok()?.parse().ok())?
    };
    let mut at = 1;
    let hours = match digits(at, 2) {
        Some(h) => {
            at += 2;
            h
        }
        None => {
            at += 1;
            digits(1, 1)?
        }
    };
    let mut total = hours * 3600;
    for unit in [60, 1] {
        let colon = b.get(at) == Some(&b':');
        let from = at + colon as usize;
        match digits(from, 2) {
            Some(v) if v < 60 => {
                total += v * unit;
                at = from + 2;
            }
            _ => break,
        }
    }
    if hours > 18 {
        return None;
    }
    Some((FixedOffset::east_opt(sign * total)?, at))
}

/// A Java `TimeUnit` or `ChronoUnit` name, in milliseconds.
pub fn time_unit_ms(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_uppercase().trim_end_matches('S') {
        "NANOSECOND" | "MICROSECOND" => 0,
        "MILLISECOND" => 1,
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => MS_PER_DAY,
        _ => return None,
    })
}

/// A wall-clock reading with what is known about it: a DATE has no time of
/// day, a TIME no date, and only a TIMESTAMP has a zone.
#[derive(Clone, Debug)]
pub struct Moment<'z> {
    local: NaiveDateTime,
    has_date: bool,
    has_time: bool,
    /// A TIMESTAMP's zone, its offset then, and the UTC instant; names are
    /// only made when the pattern asks for them.
    zone: Option<(&'z Zone, FixedOffset, NaiveDateTime)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Item {
    Literal(String),
    Field(char, usize),
    Optional(Vec<Item>),
}

/// A compiled Java date-time pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    text: String,
    items: Vec<Item>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// What a parse found; unset fields take Java's defaults when resolved.
#[derive(Clone, Debug, Default)]
struct Parsed {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    hour: Option<i64>,
    hour12: Option<i64>,
    pm: Option<bool>,
    minute: Option<i64>,
    second: Option<i64>,
    nano: Option<i64>,
    milli_of_day: Option<i64>,
    offset: Option<FixedOffset>,
    zone: Option<Zone>,
}

impl Pattern {
    /// Compiles a pattern, or says which letter or bracket is wrong.
    pub fn compile(text: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut stack: Vec<Vec<Item>> = vec![vec![]];
        let mut i = 0;
        let push_lit = |stack: &mut Vec<Vec<Item>>, s: &str| {
            let top = stack.last_mut().expect("a section");
            match top.last_mut() {
                Some(Item::Literal(l)) => l.push_str(s),
                _ => top.push(Item::Literal(s.to_string())),
            }
        };
        while i < chars.len() {
            let c = chars[i];
            if c.is_ascii_alphabetic() {
                let mut n = 1;
                while chars.get(i + n) == Some(&c) {
                    n += 1;
                }
                check_letter(c, n).map_err(|e| format!("invalid pattern '{text}': {e}"))?;
                stack.last_mut().expect("a section").push(Item::Field(c, n));
                i += n;
            } else if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    push_lit(&mut stack, "'");
                    i += 2;
                    continue;
                }
                let mut lit = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!("invalid pattern '{text}': a quote is not closed"))
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            lit.push(ch);
                            i += 1;
                        }
                    }
                }
                push_lit(&mut stack, &lit);
            } else if c == '[' {
                stack.push(vec![]);
                i += 1;
            } else if c == ']' {
                if stack.len() == 1 {
                    return Err(format!(
                        "invalid pattern '{text}': ']' without a matching '['"
                    ));
                }
                let section = stack.pop().expect("checked");
                stack
                    .last_mut()
                    .expect("a section")
                    .push(Item::Optional(section));
                i += 1;
            } else if matches!(c, '#' | '{' | '}') {
                return Err(format!(
                    "invalid pattern '{text}': '{c}' is reserved; quote it as '{c}'"
                ));
            } else {
                push_lit(&mut stack, &c.to_string());
                i += 1;
            }
        }
        // Java closes unclosed optional sections at the end.
        while stack.len() > 1 {
            let section = stack.pop().expect("checked");
            stack
                .last_mut()
                .expect("a section")
                .push(Item::Optional(section));
        }
        Ok(Pattern {
            text: text.to_string(),
            items: stack.pop().expect("the top section"),
        })
    }

    /// Compiles `text` once per thread: patterns are almost always literals.
    pub fn cached(text: &str) -> Result<Rc<Pattern>, String> {
        thread_local! {
            static CACHE: RefCell<HashMap<String, Rc<Pattern>>> = Default::default();
        }
        CACHE.with(|c| {
            if let Some(p) = c.borrow().get(text) {
                return Ok(p.clone());
            }
            let p = Rc::new(Pattern::compile(text)?);
            let mut cache = c.borrow_mut();
            if cache.len() > 1024 {
                cache.clear();
            }
            cache.insert(text.to_string(), p.clone());
            Ok(p)
        })
    }

    pub fn format_timestamp(&self, ms: i64, zone: &Zone) -> Result<String, String> {
        let utc = DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| format!("timestamp {ms} is out of range"))?
            .naive_utc();
        let offset = zone.offset_at(&utc);
        self.format(&Moment {
            local: utc + offset,
            has_date: true,
            has_time: true,
            zone: Some((zone, offset, utc)),
        })
    }

    pub fn format_date(&self, days: i64) -> Result<String, String> {
        self.format(&Moment {
            local: date_of(days)?.and_time(NaiveTime::MIN),
            has_date: true,
            has_time: false,
            zone: None,
        })
    }

    pub fn format_time(&self, ms: i64) -> Result<String, String> {
        self.format(&Moment {
            local: NaiveDate::default().and_time(time_of(ms)?),
            has_date: false,
            has_time: true,
            zone: None,
        })
    }

    /// Parses a timestamp; a zone or offset in the text wins over `zone`.
    pub fn parse_timestamp(&self, s: &str, zone: &Zone) -> Result<i64, String> {
        let p = self.parse(s)?;
        let local = self
            .resolve_date(s, &p)?
            .and_time(self.resolve_time(s, &p)?);
        let utc = match (&p.offset, &p.zone) {
            (Some(o), _) => local - *o,
            (None, Some(z)) => z.to_utc(&local),
            (None, None) => zone.to_utc(&local),
        };
        Ok(utc.and_utc().timestamp_millis())
    }

    /// Parses a date, as days since the epoch.
    pub fn parse_date(&self, s: &str) -> Result<i64, String> {
        let p = self.parse(s)?;
        Ok(crate::eval::days_since_epoch(self.resolve_date(s, &p)?))
    }

    /// Parses a time of day, as milliseconds since midnight.
    pub fn parse_time(&self, s: &str) -> Result<i64, String> {
        let p = self.parse(s)?;
        let t = self.resolve_time(s, &p)?;
        Ok(t.num_seconds_from_midnight() as i64 * 1000 + t.nanosecond() as i64 / 1_000_000)
    }

    fn format(&self, m: &Moment) -> Result<String, String> {
        let mut out = String::new();
        format_items(&self.items, m, &mut out)
            .map_err(|e| format!("cannot format with '{}': {e}", self.text))?;
        Ok(out)
    }

    /// Reads the pattern from the start of `s`. Text after it is ignored,
    /// as ksqlDB ignores it: `PARSE_DATE('2003-12-24-01-01', 'yyyy-MM-dd')`
    /// is 2003-12-24.
    fn parse(&self, s: &str) -> Result<Parsed, String> {
        let mut p = Parsed::default();
        parse_items(&self.items, s, 0, &mut p).map_err(|at| self.mismatch(s, at))?;
        Ok(p)
    }

    fn mismatch(&self, s: &str, at: usize) -> String {
        format!(
            "'{s}' does not match the pattern '{}' at character {}",
            self.text,
            s[..at.min(s.len())].chars().count() + 1
        )
    }

    fn resolve_date(&self, s: &str, p: &Parsed) -> Result<NaiveDate, String> {
        let year = p.year.unwrap_or(1970) as i32;
        let d = match p.day_of_year {
            Some(doy) => NaiveDate::from_yo_opt(year, doy as u32),
            None => NaiveDate::from_ymd_opt(
                year,
                p.month.unwrap_or(1) as u32,
                p.day.unwrap_or(1) as u32,
            ),
        };
        d.ok_or_else(|| format!("'{s}' is not a valid date (pattern '{}')", self.text))
    }

    fn resolve_time(&self, s: &str, p: &Parsed) -> Result<NaiveTime, String> {
        if let Some(ms) = p.milli_of_day {
            return time_of(ms);
        }
        let hour = match (p.hour, p.hour12, p.pm) {
            (Some(h), _, _) => h,
            (None, Some(h), pm) => h % 12 + if pm == Some(true) { 12 } else { 0 },
            (None, None, Some(true)) => 12,
            _ => 0,
        };
        NaiveTime::from_hms_nano_opt(
            hour as u32,
            p.minute.unwrap_or(0) as u32,
            p.second.unwrap_or(0) as u32,
            p.nano.unwrap_or(0) as u32,
        )
        .ok_or_else(|| format!("'{s}' is not a valid time (pattern '{}')", self.text))
    }
}

pub fn date_of(days: i64) -> Result<NaiveDate, String> {
    NaiveDate::default()
        .checked_add_signed(Duration::days(days))
        .ok_or_else(|| format!("date {days} is out of range"))
}

fn time_of(ms: i64) -> Result<NaiveTime, String> {
    if !(0..MS_PER_DAY).contains(&ms) {
        return Err(format!("time {ms} is not within a day"));
    }
    NaiveTime::from_num_seconds_from_midnight_opt(
        (ms / 1000) as u32,
        (ms % 1000) as u32 * 1_000_000,
    )
    .ok_or_else(|| format!("time {ms} is not within a day"))
}

/// The instant that a wall-clock reading in `from` shows in `to`.
pub fn convert_tz(ms: i64, from: &Zone, to: &Zone) -> Result<i64, String> {
    let local = DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| format!("timestamp {ms} is out of range"))?
        .naive_utc();
    let utc = from.to_utc(&local);
    let offset = to.offset_at(&utc);
    Ok((utc + offset).and_utc().timestamp_millis())
}

fn check_letter(c: char, n: usize) -> Result<(), String> {
    let max = match c {
        'G' | 'E' | 'a' | 'z' | 'O' => 5,
        'y' | 'u' | 'S' | 'n' | 'A' | 'N' => 19,
        'M' | 'L' | 'Q' | 'q' => 5,
        'd' | 'H' | 'h' | 'K' | 'k' | 'm' | 's' => 2,
        'D' => 3,
        'V' => 2,
        'X' | 'x' | 'Z' => 5,
        'w' | 'W' | 'Y' | 'e' | 'c' | 'F' | 'g' | 'B' => {
            return Err(format!("the pattern letter '{c}' is not supported"))
        }
        _ => return Err(format!("unknown pattern letter '{c}'")),
    };
    if n > max || (c == 'V' && n != 2) || (c == 'O' && n != 1 && n != 4) {
        return Err(format!(
            "too many pattern letters: {}",
            c.to_string().repeat(n)
        ));
    }
    Ok(())
}

fn pad(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", v.unsigned_abs()));
}

fn format_offset(
    out: &mut String,
    o: FixedOffset,
    colons: bool,
    with_seconds: bool,
    minutes: bool,
) {
    let secs = o.local_minus_utc();
    out.push(if secs < 0 { '-' } else { '+' });
    let a = secs.abs();
    let sep = if colons { ":" } else { "" };
    out.push_str(&format!("{:02}", a / 3600));
    if minutes || a % 3600 != 0 {
        out.push_str(&format!("{sep}{:02}", a / 60 % 60));
    }
    if with_seconds && a % 60 != 0 {
        out.push_str(&format!("{sep}{:02}", a % 60));
    }
}

fn format_items(items: &[Item], m: &Moment, out: &mut String) -> Result<(), String> {
    for item in items {
        match item {
            Item::Literal(l) => out.push_str(l),
            // Java prints an optional section only when it has every field.
            Item::Optional(section) => {
                let mut part = String::new();
                if format_items(section, m, &mut part).is_ok() {
                    out.push_str(&part);
                }
            }
            Item::Field(c, n) => format_field(*c, *n, m, out)?,
        }
    }
    Ok(())
}

fn format_field(c: char, n: usize, m: &Moment, out: &mut String) -> Result<(), String> {
    let t = &m.local;
    if "GyuMLQqdDE".contains(c) && !m.has_date {
        return Err(format!("a TIME has no date field '{c}'"));
    }
    if "aHkKhmsSnAN".contains(c) && !m.has_time {
        return Err(format!("a DATE has no time field '{c}'"));
    }
    let zone = || {
        m.zone
            .as_ref()
            .ok_or_else(|| format!("only a TIMESTAMP has a zone (pattern letter '{c}')"))
    };
    match c {
        'G' => out.push_str(match (n, t.year() > 0) {
            (4, true) => "Anno Domini",
            (4, false) => "Before Christ",
            (5, true) => "A",
            (5, false) => "B",
            (_, true) => "AD",
            (_, false) => "BC",
        }),
        'y' | 'u' => {
            let y = t.year() as i64;
            let y = if c == 'y' && y <= 0 { 1 - y } else { y };
            if n == 2 {
                pad(out, y.rem_euclid(100), 2)
            } else {
                pad(out, y, n)
            }
        }
        'M' | 'L' => {
            let name = MONTHS[t.month0() as usize];
            match n {
                1 | 2 => pad(out, t.month() as i64, n),
                3 => out.push_str(&name[..3]),
                4 => out.push_str(name),
                _ => out.push_str(&name[..1]),
            }
        }
        'Q' | 'q' => {
            let q = t.month0() / 3 + 1;
            match n {
                1 | 2 => pad(out, q as i64, n),
                3 => out.push_str(&format!("Q{q}")),
                4 => out.push_str(["1st", "2nd", "3rd", "4th"][q as usize - 1]),
                _ => out.push_str(&q.to_string()),
            }
            if n == 4 {
                out.push_str(" quarter");
            }
        }
        'd' => pad(out, t.day() as i64, n),
        'D' => pad(out, t.ordinal() as i64, n),
        'E' => {
            let name = DAYS[t.weekday().num_days_from_monday() as usize];
            match n {
                4 => out.push_str(name),
                5 => out.push_str(&name[..1]),
                _ => out.push_str(&name[..3]),
            }
        }
        'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
        'H' => pad(out, t.hour() as i64, n),
        'k' => pad(out, if t.hour() == 0 { 24 } else { t.hour() as i64 }, n),
        'K' => pad(out, (t.hour() % 12) as i64, n),
        'h' => {
            let h = t.hour() % 12;
            pad(out, if h == 0 { 12 } else { h as i64 }, n)
        }
        'm' => pad(out, t.minute() as i64, n),
        's' => pad(out, t.second() as i64, n),
        'S' => {
            let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
            let mut digits: String = nanos.chars().take(n.min(9)).collect();
            while digits.len() < n {
                digits.push('0');
            }
            out.push_str(&digits)
        }
        'n' => pad(out, t.nanosecond() as i64, n),
        'A' => {
            let ms =
                t.num_seconds_from_midnight() as i64 * 1000 + t.nanosecond() as i64 / 1_000_000;
            pad(out, ms, n)
        }
        'N' => {
            let ns = t.num_seconds_from_midnight() as i64 * 1_000_000_000 + t.nanosecond() as i64;
            pad(out, ns, n)
        }
        'V' => out.push_str(&zone()?.0.id()),
        'z' => {
            let (z, _, utc) = zone()?;
            out.push_str(&if n == 4 { z.id() } else { z.short_name(utc) })
        }
        'O' => {
            let (_, o, _) = zone()?;
            out.push_str("GMT");
            if o.local_minus_utc() != 0 {
                if n == 4 {
                    format_offset(out, *o, true, true, true)
                } else {
                    let a = o.local_minus_utc().abs();
                    out.push(if o.local_minus_utc() < 0 { '-' } else { '+' });
                    out.push_str(&(a / 3600).to_string());
                    if a % 3600 != 0 {
                        out.push_str(&format!(":{:02}", a / 60 % 60));
                    }
                }
            }
        }
        'X' | 'x' | 'Z' => {
            let (_, o, _) = zone()?;
            let zero = o.local_minus_utc() == 0;
            match (c, n) {
                ('X', _) if zero => out.push('Z'),
                ('Z', 5) if zero => out.push('Z'),
                ('Z', 4) => {
                    out.push_str("GMT");
                    if !zero {
                        format_offset(out, *o, true, true, true)
                    }
                }
                ('Z', 5) => format_offset(out, *o, true, true, true),
                ('Z', _) => format_offset(out, *o, false, true, true),
                (_, 1) => format_offset(out, *o, false, false, false),
                (_, 2) => format_offset(out, *o, false, false, true),
                (_, 3) => format_offset(out, *o, true, false, true),
                (_, 4) => format_offset(out, *o, false, true, true),
                _ => format_offset(out, *o, true, true, true),
            }
        }
        _ => return Err(format!("the pattern letter '{c}' is not supported")),
    }
    Ok(())
}

fn is_numeric_field(item: &Item) -> Option<usize> {
    match item {
        Item::Field(c, n) => match c {
            'y' | 'u' | 'd' | 'D' | 'H' | 'h' | 'K' | 'k' | 'm' | 's' | 'S' | 'A' | 'n' | 'N' => {
                Some(*n)
            }
            'M' | 'L' | 'Q' | 'q' if *n <= 2 => Some(*n),
            _ => None,
        },
        _ => None,
    }
}

/// Parses `items` from byte `at`; on failure returns where it failed.
fn parse_items(items: &[Item], s: &str, mut at: usize, p: &mut Parsed) -> Result<usize, usize> {
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Literal(l) => {
                let rest = &s[at..];
                if rest.len() >= l.len() && rest[..l.len()].eq_ignore_ascii_case(l) {
                    at += l.len();
                } else {
                    return Err(at);
                }
            }
            Item::Optional(section) => {
                let mut tried = p.clone();
                if let Ok(next) = parse_items(section, s, at, &mut tried) {
                    *p = tried;
                    at = next;
                }
            }
            Item::Field(c, n) => {
                // Java's adjacent value parsing: the first of a run of
                // numbers without separators leaves the widths of the
                // fixed-width ones after it, so `yyyyMMdd` splits 4-2-2.
                let reserved: usize = items[i + 1..].iter().map_while(is_numeric_field).sum();
                at = parse_field(*c, *n, s, at, reserved, p)?;
            }
        }
    }
    Ok(at)
}

fn parse_field(
    c: char,
    n: usize,
    s: &str,
    at: usize,
    reserved: usize,
    p: &mut Parsed,
) -> Result<usize, usize> {
    let rest = &s[at..];
    let number = |min: usize, max: usize, signed: bool| -> Result<(i64, usize), usize> {
        let b = rest.as_bytes();
        let sign = if signed && matches!(b.first(), Some(b'-') | Some(b'+')) {
            1
        } else {
            0
        };
        let run = b[sign..].iter().take_while(|c| c.is_ascii_digit()).count();
        let take = run.saturating_sub(reserved).min(max);
        if take < min || take == 0 {
            return Err(at);
        }
        let v: i64 = rest[sign..sign + take].parse().map_err(|_| at)?;
        Ok((
            if b.first() == Some(&b'-') && sign == 1 {
                -v
            } else {
                v
            },
            sign + take,
        ))
    };
    // Fixed width when the letter is repeated (`MM`), else one or two digits.
    let two = |n: usize| if n >= 2 { (n, n) } else { (1, 2) };
    let (value, used) = match c {
        'y' | 'u' => {
            if n == 2 {
                let (v, used) = number(2, 2, false)?;
                (2000 + v, used)
            } else {
                number(n.clamp(1, 4), 10, n >= 4)?
            }
        }
        'M' | 'L' if n >= 3 => {
            let month = MONTHS
                .iter()
                .position(|m| {
                    let name = if n == 3 { &m[..3] } else { m };
                    rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name)
                })
                .ok_or(at)?;
            p.month = Some(month as i64 + 1);
            return Ok(at + if n == 3 { 3 } else { MONTHS[month].len() });
        }
        'E' => {
            let found = DAYS
                .iter()
                .find_map(|d| {
                    let name = if n == 4 { *d } else { &d[..3] };
                    (rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name))
                        .then_some(name.len())
                })
                .ok_or(at)?;
            return Ok(at + found);
        }
        'G' => {
            let found = ["AD", "BC", "Anno Domini", "Before Christ"]
                .iter()
                .find(|e| rest.len() >= e.len() && rest[..e.len()].eq_ignore_ascii_case(e))
                .ok_or(at)?;
            return Ok(at + found.len());
        }
        'a' => {
            let head = rest.get(..2).ok_or(at)?.to_ascii_uppercase();
            p.pm = Some(match head.as_str() {
                "AM" => false,
                "PM" => true,
                _ => return Err(at),
            });
            return Ok(at + 2);
        }
        'S' => {
            let (v, used) = number(n, n, false)?;
            p.nano = Some(v * 10i64.pow(9 - n.min(9) as u32));
            return Ok(at + used);
        }
        'n' => {
            let (v, used) = number(1, 9, false)?;
            p.nano = Some(v);
            return Ok(at + used);
        }
        'V' | 'z' => {
            let len = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || "/_+-:".contains(ch)))
                .unwrap_or(rest.len());
            let zone = Zone::parse(&rest[..len]).map_err(|_| at)?;
            p.zone = Some(zone);
            return Ok(at + len);
        }
        'O' => {
            let r = rest.strip_prefix("GMT").ok_or(at)?;
            if !r.starts_with(['+', '-']) {
                p.offset = Some(FixedOffset::east_opt(0).expect("zero"));
                return Ok(at + 3);
            }
            let (o, used) = parse_offset_text(r).ok_or(at + 3)?;
            p.offset = Some(o);
            return Ok(at + 3 + used);
        }
        'X' | 'x' | 'Z' => {
            let mut r = rest;
            let mut skip = 0;
            if c == 'Z' && n == 4 {
                r = r.strip_prefix("GMT").ok_or(at)?;
                skip = 3;
            }
            if (c == 'X' || c == 'Z')
                && (r.starts_with('Z') || (skip == 3 && !r.starts_with(['+', '-'])))
            {
                p.offset = Some(FixedOffset::east_opt(0).expect("zero"));
                return Ok(at + skip + usize::from(r.starts_with('Z')));
            }
            let (o, used) = parse_offset_text(r).ok_or(at)?;
            p.offset = Some(o);
            return Ok(at + skip + used);
        }
        'D' => {
            let (min, max) = if n >= 3 { (3, 3) } else { (n, 3) };
            number(min, max, false)?
        }
        'A' | 'N' => number(n, 19, false)?,
        _ => {
            let (min, max) = two(n);
            number(min, max, false)?
        }
    };
    match c {
        'y' | 'u' => p.year = Some(value),
        'M' | 'L' => p.month = Some(value),
        'Q' | 'q' => {}
        'd' => p.day = Some(value),
        'D' => p.day_of_year = Some(value),
        'H' => p.hour = Some(value),
        'k' => p.hour = Some(value % 24),
        'h' | 'K' => p.hour12 = Some(value),
        'm' => p.minute = Some(value),
        's' => p.second = Some(value),
        'A' => p.milli_of_day = Some(value),
        'N' => p.milli_of_day = Some(value / 1_000_000),
        _ => return Err(at),
    }
    Ok(at + used)
}

fn zone_arg(args: &[Value], i: usize) -> Result<Zone, String> {
    match args.get(i) {
        Some(Value::String(z)) => Zone::parse(z),
        _ => Ok(Zone::utc()),
    }
}

/// Evaluates a date and time function on arguments of its resolved types.
pub(super) fn eval(func: F, args: &[Value]) -> Result<Value, EvalError> {
    let bad = |e: String| EvalError::InvalidArgument(format!("{}: {e}", func.name()));
    let text = |i: usize| match args.get(i) {
        Some(Value::String(s)) => s.as_str(),
        _ => "",
    };
    let whole = |i: usize| match args.get(i) {
        Some(Value::Int(v)) => *v as i64,
        Some(Value::BigInt(v)) | Some(Value::Timestamp(v)) => *v,
        Some(Value::Date(v)) | Some(Value::Time(v)) => *v as i64,
        _ => 0,
    };
    let pattern = |i: usize| Pattern::cached(text(i)).map_err(bad);
    let days = |d: i64| i32::try_from(d).map_err(|_| bad(format!("date {d} is out of range")));
    Ok(match func {
        F::ParseDate => Value::Date(days(pattern(1)?.parse_date(text(0)).map_err(bad)?)?),
        F::StringToDate => Value::Int(days(pattern(1)?.parse_date(text(0)).map_err(bad)?)?),
        F::ParseTime => Value::Time(pattern(1)?.parse_time(text(0)).map_err(bad)? as i32),
        F::ParseTimestamp | F::StringToTimestamp => {
            let zone = zone_arg(args, 2).map_err(bad)?;
            let ms = pattern(1)?.parse_timestamp(text(0), &zone).map_err(bad)?;
            if func == F::ParseTimestamp {
                Value::Timestamp(ms)
            } else {
                Value::BigInt(ms)
            }
        }
        F::FormatDate | F::DateToString => {
            Value::String(pattern(1)?.format_date(whole(0)).map_err(bad)?)
        }
        F::FormatTime => Value::String(pattern(1)?.format_time(whole(0)).map_err(bad)?),
        F::FormatTimestamp | F::TimestampToString => {
            let zone = zone_arg(args, 2).map_err(bad)?;
            Value::String(pattern(1)?.format_timestamp(whole(0), &zone).map_err(bad)?)
        }
        F::ConvertTz => {
            let from = Zone::parse(text(1)).map_err(bad)?;
            let to = Zone::parse(text(2)).map_err(bad)?;
            Value::Timestamp(convert_tz(whole(0), &from, &to).map_err(bad)?)
        }
        F::FromUnixtime => Value::Timestamp(whole(0)),
        F::FromDays => Value::Date(days(whole(0))?),
        F::UnixDate => match args.first() {
            Some(Value::Date(d)) => Value::Int(*d),
            _ => Value::Int(
                (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0)
                    / MS_PER_DAY) as i32,
            ),
        },
        F::DateAdd | F::DateSub | F::TimeAdd | F::TimeSub | F::TimestampAdd | F::TimestampSub => {
            let unit = text(0);
            let per = time_unit_ms(unit).ok_or_else(|| {
                bad(format!(
                    "unknown time unit '{unit}'; use MILLISECONDS, SECONDS, MINUTES, HOURS or DAYS"
                ))
            })?;
            let sign = if matches!(func, F::DateSub | F::TimeSub | F::TimestampSub) {
                -1
            } else {
                1
            };
            let delta = whole(1)
                .checked_mul(per * sign)
                .ok_or(EvalError::Overflow("a date or time addition"))?;
            match func {
                F::DateAdd | F::DateSub => {
                    let ms = whole(2) * MS_PER_DAY + delta;
                    Value::Date(days(ms.div_euclid(MS_PER_DAY))?)
                }
                F::TimeAdd | F::TimeSub => {
                    Value::Time((whole(2) + delta).rem_euclid(MS_PER_DAY) as i32)
                }
                _ => Value::Timestamp(
                    whole(2)
                        .checked_add(delta)
                        .ok_or(EvalError::Overflow("TIMESTAMPADD"))?,
                ),
            }
        }
        other => {
            return Err(EvalError::Internal(format!(
                "{other:?} is not a date or time function"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(pattern: &str, s: &str) -> Result<i64, String> {
        Pattern::compile(pattern)?.parse_timestamp(s, &Zone::utc())
    }

    #[test]
    fn patterns_round_trip_timestamps_in_zones() {
        let p = Pattern::compile("yyyy-MM-dd HH:mm:ss.SSS").unwrap();
        let la = Zone::parse("America/Los_Angeles").unwrap();
        let ms = p.parse_timestamp("2018-05-11 13:09:51.000", &la).unwrap();
        assert_eq!(ms, 1_526_069_391_000);
        assert_eq!(
            p.format_timestamp(ms, &la).unwrap(),
            "2018-05-11 13:09:51.000"
        );
        assert_eq!(
            p.format_timestamp(ms, &Zone::utc()).unwrap(),
            "2018-05-11 20:09:51.000"
        );
        let z = Pattern::compile("yyyy-MM-dd'T'HH:mm:ssXXX").unwrap();
        assert_eq!(
            z.format_timestamp(0, &Zone::parse("+05:30").unwrap())
                .unwrap(),
            "1970-01-01T05:30:00+05:30"
        );
        assert_eq!(
            z.format_timestamp(0, &Zone::utc()).unwrap(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            z.parse_timestamp("1970-01-01T05:30:00+05:30", &la).unwrap(),
            0,
            "the text's offset wins over the argument's zone"
        );
    }

    #[test]
    fn text_fields_twelve_hour_clocks_and_optional_sections() {
        let p = Pattern::compile("EEE, d MMM yyyy h:mm a").unwrap();
        let ms = ts("EEE, d MMM yyyy h:mm a", "Tue, 3 Jun 2008 11:05 PM").unwrap();
        assert_eq!(
            p.format_timestamp(ms, &Zone::utc()).unwrap(),
            "Tue, 3 Jun 2008 11:05 PM"
        );
        assert_eq!(
            ts("yyyy-MM-dd[ HH:mm]", "2020-01-02").unwrap(),
            1_577_923_200_000
        );
        assert_eq!(
            ts("yyyy-MM-dd[ HH:mm]", "2020-01-02 01:00").unwrap(),
            1_577_923_200_000 + 3_600_000
        );
        assert_eq!(
            ts("MMMM d, yyyy", "february 29, 2020").unwrap(),
            1_582_934_400_000
        );
        assert_eq!(ts("''yy''", "'21'").unwrap(), 1_609_459_200_000);
    }

    #[test]
    fn bad_text_and_bad_patterns_say_where() {
        let e = ts("yyyy-MM-dd", "2021-13-01").unwrap_err();
        assert!(e.contains("not a valid date"), "{e}");
        let e = ts("yyyy-MM-dd", "abcd").unwrap_err();
        assert!(e.contains("at character 1"), "{e}");
        assert_eq!(
            ts("yyyy-MM-dd", "2021-01-01x"),
            ts("yyyy-MM-dd", "2021-01-01")
        );
        let e = ts("yyyy-MM-dd", "2021-01").unwrap_err();
        assert!(e.contains("at character 8"), "{e}");
        let e = Pattern::compile("yyyy-ww").unwrap_err();
        assert!(e.contains("'w' is not supported"), "{e}");
        let e = Pattern::compile("HHH").unwrap_err();
        assert!(e.contains("too many pattern letters"), "{e}");
        let e = Pattern::compile("yyyy'T").unwrap_err();
        assert!(e.contains("quote is not closed"), "{e}");
        let e = Pattern::compile("HH:mm")
            .unwrap()
            .format_date(0)
            .unwrap_err();
        assert!(e.contains("a DATE has no time field 'H'"), "{e}");
        assert!(Zone::parse("Mars/Olympus")
            .unwrap_err()
            .contains("unknown time zone"));
    }

    #[test]
    fn dates_times_and_zone_conversion() {
        let d = Pattern::compile("dd/MM/yyyy").unwrap();
        assert_eq!(d.parse_date("01/01/1970").unwrap(), 0);
        assert_eq!(d.format_date(-1).unwrap(), "31/12/1969");
        let t = Pattern::compile("HH:mm:ss.SSS").unwrap();
        assert_eq!(t.parse_time("01:02:03.004").unwrap(), 3_723_004);
        assert_eq!(t.format_time(3_723_004).unwrap(), "01:02:03.004");
        let utc = Zone::utc();
        let seoul = Zone::parse("Asia/Seoul").unwrap();
        assert_eq!(convert_tz(0, &utc, &seoul).unwrap(), 9 * 3_600_000);
        assert_eq!(convert_tz(9 * 3_600_000, &seoul, &utc).unwrap(), 0);
        assert_eq!(
            Zone::parse("GMT+2").unwrap(),
            Zone::Fixed(FixedOffset::east_opt(7200).unwrap())
        );
        assert_eq!(time_unit_ms("SECONDS"), Some(1000));
        assert_eq!(time_unit_ms("day"), Some(MS_PER_DAY));
        assert_eq!(time_unit_ms("fortnight"), None);
    }
}
