//! Reports on ads, reps and marketing campaigns, and the ad metrics they
//! read (`metrics`).
//!
//! Every figure is aggregated in SQL per group (an ad, an ad campaign, an
//! ad account, a rep, a marketing campaign), so a report costs one pass
//! over the range's rows and holds one row per group in memory, never the
//! leads themselves. Ratios are taken from the aggregates here, and are
//! `None` (null in the API) when their denominator is zero. What each
//! figure means is written in `docs/reports.md`.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use swell_core::FieldError;

use crate::{Result, StoreError};

mod ads;
pub mod metrics;
mod reps;
mod rollup;

pub use ads::{AccountRef, AdFigures, AdGrouping, AdReport, AdReportRow, NamedRef};
pub use metrics::{AdKey, MetricInput};
pub use reps::{FirstContact, RepReport, RepRow, UserRef};
pub use rollup::MarketingReport;

/// Statuses a lead moves through after `new`: contacted or beyond.
pub(crate) const CONTACTED_STATUSES: &str = "('contacted', 'qualified', 'won')";

/// Calendar days, both included, read in the workspace's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: Date,
    pub to: Date,
}

impl DateRange {
    /// The range `from..=to`; a `to` before `from`, or more than ten years
    /// of days, is refused.
    pub fn new(from: Date, to: Date) -> std::result::Result<DateRange, FieldError> {
        if to < from {
            return Err(FieldError::new("to", format!("{to} is before from {from}")));
        }
        if (to - from).get_days() > 3660 {
            return Err(FieldError::new("to", "the range is longer than ten years"));
        }
        Ok(DateRange { from, to })
    }

    /// The instants `[start, end)` the range covers in zone `tz`: midnight
    /// at the start of `from` to midnight at the end of `to`, as stored
    /// (milliseconds), so a day on which the clocks change is still whole.
    pub(crate) fn bounds(&self, tz: &str) -> Result<(i64, i64)> {
        let zone = TimeZone::get(tz).map_err(|e| {
            StoreError::Invalid(vec![FieldError::new(
                "timezone",
                format!("the workspace's zone '{tz}' is unknown: {e}"),
            )])
        })?;
        let at = |d: Date| -> Result<i64> {
            d.to_zoned(zone.clone())
                .map(|z| z.timestamp().as_millisecond())
                .map_err(|e| StoreError::Invalid(vec![FieldError::new("from", e.to_string())]))
        };
        let after = self
            .to
            .tomorrow()
            .map_err(|e| StoreError::Invalid(vec![FieldError::new("to", e.to_string())]))?;
        Ok((at(self.from)?, at(after)?))
    }

    /// `from` and `to` as stored dates (`YYYY-MM-DD`), which order as text.
    pub(crate) fn days(&self) -> (String, String) {
        (self.from.to_string(), self.to.to_string())
    }
}

/// `n / d`, or `None` when `d` is zero.
pub(crate) fn ratio(n: f64, d: f64) -> Option<f64> {
    (d != 0.0).then(|| n / d)
}
