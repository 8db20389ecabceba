//! Working hours of a sales rep: the weekdays and the time of day they take
//! leads, read in the workspace's zone.

use jiff::Zoned;
use jiff::civil::Time;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"days": [1, 2, 3, 4, 5], "from": "08:00", "to": "17:30"}`: Monday is
/// 1, Sunday 7; `from` is inside, `to` is not. A range that ends before it
/// starts runs over midnight (a night shift, `"from": "22:00", "to": "06:00"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    days: Vec<i8>,
    from: Time,
    to: Time,
}

#[derive(Serialize, Deserialize)]
struct Raw {
    days: Vec<i8>,
    from: String,
    to: String,
}

fn time(k: &str, s: &str) -> Result<Time, String> {
    let t: Time = s
        .parse()
        .map_err(|_| format!("{k} '{s}' is not a time of day (HH:MM)"))?;
    Ok(t)
}

impl WorkingHours {
    pub fn from_json(v: &Value) -> Result<WorkingHours, String> {
        let raw: Raw = serde_json::from_value(v.clone()).map_err(|_| {
            "must be {\"days\": [1..7], \"from\": \"HH:MM\", \"to\": \"HH:MM\"}".to_string()
        })?;
        if raw.days.is_empty() {
            return Err("days is empty: give the weekdays, Monday 1 to Sunday 7".into());
        }
        if let Some(d) = raw.days.iter().find(|d| !(1..=7).contains(*d)) {
            return Err(format!("day {d} is not 1 (Monday) to 7 (Sunday)"));
        }
        let (from, to) = (time("from", &raw.from)?, time("to", &raw.to)?);
        if from == to {
            return Err("from and to are the same time".into());
        }
        let mut days = raw.days;
        days.sort_unstable();
        days.dedup();
        Ok(WorkingHours { days, from, to })
    }

    pub fn to_json(&self) -> Value {
        let hm = |t: Time| format!("{:02}:{:02}", t.hour(), t.minute());
        serde_json::json!({"days": self.days, "from": hm(self.from), "to": hm(self.to)})
    }

    /// Whether `at` (already in the workspace's zone) is inside the hours.
    /// Past midnight in a night shift counts to the day the shift began.
    pub fn contains(&self, at: &Zoned) -> bool {
        let now = at.time();
        let weekday = at.weekday().to_monday_one_offset();
        if self.from < self.to {
            self.days.contains(&weekday) && self.from <= now && now < self.to
        } else if now >= self.from {
            self.days.contains(&weekday)
        } else if now < self.to {
            let yesterday = if weekday == 1 { 7 } else { weekday - 1 };
            self.days.contains(&yesterday)
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Zoned {
        format!("{s}[Asia/Ho_Chi_Minh]").parse().unwrap()
    }

    #[test]
    fn office_hours_hold_on_weekdays_between_from_and_to() {
        let h =
            WorkingHours::from_json(&json!({"days": [1,2,3,4,5], "from": "08:00", "to": "17:30"}))
                .unwrap();
        assert!(h.contains(&at("2026-12-07T08:00:00"))); // Monday
        assert!(!h.contains(&at("2026-12-07T17:30:00")));
        assert!(!h.contains(&at("2026-12-06T10:00:00"))); // Sunday
        assert_eq!(
            h.to_json(),
            json!({"days": [1,2,3,4,5], "from": "08:00", "to": "17:30"})
        );
    }

    #[test]
    fn a_night_shift_runs_over_midnight_into_the_next_day() {
        let h =
            WorkingHours::from_json(&json!({"days": [5], "from": "22:00", "to": "06:00"})).unwrap();
        assert!(h.contains(&at("2026-12-11T23:00:00"))); // Friday night
        assert!(h.contains(&at("2026-12-12T05:59:00"))); // Saturday morning
        assert!(!h.contains(&at("2026-12-12T23:00:00")));
    }

    #[test]
    fn bad_hours_are_refused_with_the_reason() {
        for (v, want) in [
            (
                json!({"days": [8], "from": "08:00", "to": "17:00"}),
                "day 8",
            ),
            (
                json!({"days": [1], "from": "8h", "to": "17:00"}),
                "from '8h'",
            ),
            (
                json!({"days": [], "from": "08:00", "to": "17:00"}),
                "days is empty",
            ),
            (json!("always"), "must be"),
        ] {
            let e = WorkingHours::from_json(&v).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
