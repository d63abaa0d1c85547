//! Time is a parameter.
//!
//! Domain code never reads the system time: it asks a [`Clock`]. Production uses
//! [`SystemClock`]; tests use [`ManualClock`] and move it to cross deadlines, expire links and
//! reach retention dates without sleeping.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ZonedDateTime};

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> Timestamp;

    /// Now, in an organisation's time zone (legal dates are computed there).
    fn now_in(&self, tz: &TimeZone) -> ZonedDateTime {
        self.now().to_zoned_datetime(tz.clone())
    }
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the system time
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Mutex::new(start))
    }

    pub fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = t;
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *guard = guard.saturating_add(by).unwrap_or(*guard);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Microseconds since the Unix epoch: how instants are stored (BIGINT on every engine).
pub fn to_micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn from_micros(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Resolves an organisation's time zone, falling back to Europe/Paris if the stored name is
/// unknown (it is checked when written; this only guards against a damaged row).
pub fn time_zone(name: &str) -> TimeZone {
    TimeZone::get(name)
        .or_else(|_| TimeZone::get(crate::org::DEFAULT_TIME_ZONE))
        .unwrap_or(TimeZone::UTC)
}

/// "23/11/2026 à 14:05", in the given time zone: how dates and times are shown.
pub fn format_fr(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%d/%m/%Y à %H:%M")
        .to_string()
}

/// "23/11/2026", in the given time zone.
pub fn format_date_fr(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%d/%m/%Y")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(SignedDuration::from_hours(48));
        assert_eq!(clock.now(), "2026-11-25T10:00:00Z".parse().unwrap());
    }

    #[test]
    fn legal_dates_are_computed_in_the_organisation_time_zone() {
        // 23:30 UTC on 31 December is already 1 January in Paris, still 31 December
        // in Guadeloupe, and 1 January in La Réunion.
        let t: Timestamp = "2026-12-31T23:30:00Z".parse().unwrap();
        assert_eq!(format_date_fr(t, &time_zone("Europe/Paris")), "01/01/2027");
        assert_eq!(
            format_date_fr(t, &time_zone("America/Guadeloupe")),
            "31/12/2026"
        );
        assert_eq!(
            format_fr(t, &time_zone("Indian/Reunion")),
            "01/01/2027 à 03:30"
        );
        assert_eq!(time_zone("Nulle/Part"), time_zone("Europe/Paris"));
    }

    #[test]
    fn micros_round_trip() {
        let t: Timestamp = "2026-11-23T10:00:00.123456Z".parse().unwrap();
        assert_eq!(from_micros(to_micros(t)), t);
    }
}
