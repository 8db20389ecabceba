//! When to try a temporarily failed send again.

use std::time::Duration;

/// A backoff schedule: the wait after each failed attempt, then give up.
///
/// The default (1 min, 5 min, 30 min, 2 h, 6 h; six attempts over about
/// 8.5 hours) outlasts greylisting (usually 5-15 minutes) and a relay's
/// short outage, and gives up well within the days a receiving server
/// queues for, so a final failure is recorded the same day. The delays are
/// fixed rather than jittered: sends fail at scattered times anyway, and a
/// fixed schedule is what the UI can show ("next attempt at 14:05").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    delays: Vec<Duration>,
}

impl Retry {
    /// A schedule with these waits; `delays.len() + 1` attempts in all.
    pub fn new(delays: Vec<Duration>) -> Retry {
        Retry { delays }
    }

    /// How long to wait after `attempts` failed attempts (the first attempt
    /// is number 1) before the next, or `None` to give up and record the
    /// failure.
    pub fn backoff(&self, attempts: u32) -> Option<Duration> {
        let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
        self.delays.get(index).copied()
    }

    /// The total number of attempts, the first included.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }
}

impl Default for Retry {
    fn default() -> Retry {
        const MINUTE: u64 = 60;
        Retry::new(
            [MINUTE, 5 * MINUTE, 30 * MINUTE, 120 * MINUTE, 360 * MINUTE]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_backs_off_then_gives_up() {
        let retry = Retry::default();
        let minutes = |n: u64| Some(Duration::from_secs(60 * n));
        assert_eq!(retry.backoff(1), minutes(1));
        assert_eq!(retry.backoff(2), minutes(5));
        assert_eq!(retry.backoff(3), minutes(30));
        assert_eq!(retry.backoff(4), minutes(120));
        assert_eq!(retry.backoff(5), minutes(360));
        assert_eq!(retry.backoff(6), None);
        assert_eq!(retry.max_attempts(), 6);
    }

    #[test]
    fn attempt_zero_has_no_backoff() {
        assert_eq!(Retry::default().backoff(0), None);
    }

    #[test]
    fn an_empty_schedule_tries_once() {
        let retry = Retry::new(Vec::new());
        assert_eq!(retry.backoff(1), None);
        assert_eq!(retry.max_attempts(), 1);
    }
}
