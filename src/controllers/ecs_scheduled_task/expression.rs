//! Scheduler's schedule expressions, evaluated to find the next run: `at(...)`, `rate(...)` and
//! `cron(minutes hours day-of-month month day-of-week year)` in a time zone. Pure.
//!
//! Cron's `L`, `W` and `#` are not evaluated (the next run is then unknown); everything else
//! Scheduler accepts is: lists, ranges, steps, `*`, `?`, month and weekday names.

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// Looks up an IANA time zone name.
pub fn time_zone(name: &str) -> Option<TimeZone> {
    TimeZone::get(name).ok()
}

/// When a schedule runs next after `now`, if that can be known.
pub struct Window {
    pub now: Timestamp,
    /// No run before / after these.
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    /// When the schedule was created: a rate schedule counts its periods from here (or
    /// from `start`).
    pub created: Option<Timestamp>,
}

pub fn next_run(expression: &str, zone: &TimeZone, window: &Window) -> Option<Timestamp> {
    let after = match window.start {
        Some(start) if start > window.now => start,
        _ => window.now,
    };
    let next = if let Some(at) = inner(expression, "at(") {
        let at: DateTime = at.parse().ok()?;
        let at = at.to_zoned(zone.clone()).ok()?.timestamp();
        (at >= after).then_some(at)
    } else if let Some(rate) = inner(expression, "rate(") {
        let period = rate_period(rate)?;
        let anchor = window.start.or(window.created)?;
        let elapsed = after.duration_since(anchor).as_secs_f64().max(0.0);
        let periods = (elapsed / period.as_secs_f64()).floor() as i64 + 1;
        let offset = jiff::SignedDuration::from_secs(
            periods.checked_mul(i64::try_from(period.as_secs()).ok()?)?,
        );
        anchor.checked_add(offset).ok()
    } else if let Some(cron) = inner(expression, "cron(") {
        Cron::parse(cron)?.next_after(after, zone)
    } else {
        None
    }?;
    match window.end {
        Some(end) if next > end => None,
        _ => Some(next),
    }
}

fn inner<'a>(expression: &'a str, prefix: &str) -> Option<&'a str> {
    expression.strip_prefix(prefix)?.strip_suffix(')')
}

/// `5 minutes`, `1 hour`, `2 days`.
pub fn rate_period(rate: &str) -> Option<Duration> {
    let (value, unit) = rate.split_once(' ')?;
    let value: u64 = value.parse().ok().filter(|v| *v > 0)?;
    let unit_seconds = match unit {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(value.checked_mul(unit_seconds)?))
}

/// A parsed cron expression: the allowed values of each field.
#[derive(Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<u8>,
    hours: Vec<u8>,
    /// `None`: `?` (any day of month; the weekday decides).
    days_of_month: Option<Vec<u8>>,
    months: Vec<u8>,
    /// 1 = Sunday … 7 = Saturday; `None`: `?`.
    days_of_week: Option<Vec<u8>>,
    years: Vec<u16>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    pub fn parse(text: &str) -> Option<Self> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields.as_slice() else {
            return None;
        };
        let optional = |field: &str, min, max, names: &[&str]| {
            if field == "?" {
                Some(None)
            } else {
                values(field, min, max, names).map(Some)
            }
        };
        let cron = Cron {
            minutes: values(minutes, 0, 59, &[])?
                .into_iter()
                .map(narrow)
                .collect(),
            hours: values(hours, 0, 23, &[])?.into_iter().map(narrow).collect(),
            days_of_month: optional(dom, 1, 31, &[])?.map(|v| v.into_iter().map(narrow).collect()),
            months: values(month, 1, 12, &MONTHS)?
                .into_iter()
                .map(narrow)
                .collect(),
            days_of_week: optional(dow, 1, 7, &WEEKDAYS)?
                .map(|v| v.into_iter().map(narrow).collect()),
            years: values(year, 1970, 2199, &[])?
                .into_iter()
                .map(|y| u16::try_from(y).unwrap_or(u16::MAX))
                .collect(),
        };
        // Scheduler requires `?` in exactly one of the day fields.
        (cron.days_of_month.is_some() != cron.days_of_week.is_some()).then_some(cron)
    }

    fn matches_day(&self, date: Date) -> bool {
        let year_ok = u16::try_from(date.year()).is_ok_and(|y| self.years.contains(&y));
        let month_ok = u8::try_from(date.month()).is_ok_and(|m| self.months.contains(&m));
        let dom_ok = self
            .days_of_month
            .as_ref()
            .is_none_or(|d| u8::try_from(date.day()).is_ok_and(|day| d.contains(&day)));
        let dow_ok = self.days_of_week.as_ref().is_none_or(|d| {
            u8::try_from(date.weekday().to_sunday_one_offset()).is_ok_and(|w| d.contains(&w))
        });
        year_ok && month_ok && dom_ok && dow_ok
    }

    /// The first matching minute strictly after `after`, searched over five years.
    pub fn next_after(&self, after: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let start = after.to_zoned(zone.clone()).date();
        let mut date = start;
        for _ in 0..(5 * 366) {
            if self.matches_day(date) {
                for &hour in &self.hours {
                    for &minute in &self.minutes {
                        let civil =
                            date.at(i8::try_from(hour).ok()?, i8::try_from(minute).ok()?, 0, 0);
                        // A time skipped by a DST change has no run.
                        let Ok(zoned) = civil.to_zoned(zone.clone()) else {
                            continue;
                        };
                        if zoned.timestamp() > after && zoned.datetime() == civil {
                            return Some(zoned.timestamp());
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

fn narrow(value: u32) -> u8 {
    u8::try_from(value).unwrap_or(u8::MAX)
}

/// The values a cron field allows, sorted; `None` for what is not evaluated (`L`, `W`, `#`)
/// or invalid.
fn values(field: &str, min: u32, max: u32, names: &[&str]) -> Option<Vec<u32>> {
    let number = |text: &str| -> Option<u32> {
        let value = match names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
            Some(index) => min + u32::try_from(index).ok()?,
            None => text.parse().ok()?,
        };
        (min..=max).contains(&value).then_some(value)
    };
    let mut allowed = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((low, high)) = range.split_once('-') {
            (number(low)?, number(high)?)
        } else {
            let value = number(range)?;
            // `5/15` means from 5 to the end, every 15.
            (value, if part.contains('/') { max } else { value })
        };
        if low > high {
            return None;
        }
        allowed.extend((low..=high).step_by(usize::try_from(step).ok()?));
    }
    allowed.sort_unstable();
    allowed.dedup();
    Some(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn window(now: &str) -> Window {
        Window {
            now: ts(now),
            start: None,
            end: None,
            created: None,
        }
    }

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    #[test]
    fn cron_runs_at_the_next_matching_minute() {
        let w = window("2026-11-22T03:17:00Z");
        assert_eq!(
            next_run("cron(0/15 * * * ? *)", &utc(), &w),
            Some(ts("2026-11-22T03:30:00Z"))
        );
        assert_eq!(
            next_run("cron(0 2 * * ? *)", &utc(), &w),
            Some(ts("2026-11-23T02:00:00Z"))
        );
        // Weekdays: 2026-11-22 is a Sunday; MON-FRI at 08:30 is Monday.
        assert_eq!(
            next_run("cron(30 8 ? * MON-FRI *)", &utc(), &w),
            Some(ts("2026-11-23T08:30:00Z"))
        );
        assert_eq!(
            next_run("cron(0 12 1 JAN ? 2027)", &utc(), &w),
            Some(ts("2027-01-01T12:00:00Z"))
        );
        assert_eq!(next_run("cron(0 12 1 JAN ? 2025)", &utc(), &w), None);
    }

    #[test]
    fn cron_is_read_in_the_time_zone() {
        let paris = time_zone("Europe/Paris").expect("tz database");
        let w = window("2026-11-22T03:17:00Z");
        // 09:00 in Paris (UTC+1 in November) is 08:00 UTC.
        assert_eq!(
            next_run("cron(0 9 * * ? *)", &paris, &w),
            Some(ts("2026-11-22T08:00:00Z"))
        );
        assert!(time_zone("Mars/Olympus_Mons").is_none());
    }

    #[test]
    fn unevaluated_and_invalid_crons_have_no_next_run() {
        let w = window("2026-11-22T03:17:00Z");
        assert_eq!(next_run("cron(0 10 L * ? *)", &utc(), &w), None);
        assert_eq!(next_run("cron(0 10 ? * 6#3 *)", &utc(), &w), None);
        assert_eq!(next_run("cron(0 10 * * * *)", &utc(), &w), None);
        assert_eq!(next_run("cron(61 10 * * ? *)", &utc(), &w), None);
        assert!(Cron::parse("0 10 ? * MON *").is_some());
    }

    #[test]
    fn at_runs_once_and_rate_counts_from_its_anchor() {
        let w = window("2026-11-22T03:17:00Z");
        assert_eq!(
            next_run("at(2026-12-01T10:00:00)", &utc(), &w),
            Some(ts("2026-12-01T10:00:00Z"))
        );
        assert_eq!(next_run("at(2026-01-01T10:00:00)", &utc(), &w), None);
        // A rate schedule without a start or creation time: unknown.
        assert_eq!(next_run("rate(5 minutes)", &utc(), &w), None);
        let created = Window {
            created: Some(ts("2026-11-22T03:00:30Z")),
            ..window("2026-11-22T03:17:00Z")
        };
        assert_eq!(
            next_run("rate(5 minutes)", &utc(), &created),
            Some(ts("2026-11-22T03:20:30Z"))
        );
        assert_eq!(rate_period("1 hour"), Some(Duration::from_secs(3600)));
        assert_eq!(rate_period("0 hours"), None);
    }

    #[test]
    fn start_and_end_dates_bound_the_next_run() {
        let bounded = Window {
            start: Some(ts("2026-12-01T00:00:00Z")),
            end: Some(ts("2026-12-31T00:00:00Z")),
            ..window("2026-11-22T03:17:00Z")
        };
        assert_eq!(
            next_run("cron(0 6 * * ? *)", &utc(), &bounded),
            Some(ts("2026-12-01T06:00:00Z"))
        );
        let ended = Window {
            end: Some(ts("2026-11-22T03:00:00Z")),
            ..window("2026-11-22T03:17:00Z")
        };
        assert_eq!(next_run("cron(0 6 * * ? *)", &utc(), &ended), None);
    }
}
