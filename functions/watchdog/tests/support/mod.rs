//! Shared set-up of the watchdog's tests: its configuration, times of the test day, and a
//! healthy trail as `DescribeTrails`, `GetTrailStatus` and the digest listing show it.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use trailwarden_testkit::config;
use watchdog::execute::{
    DigestView, Observation, RegionDigests, TrailState, TrailStatus, TrailView,
};
use watchdog::{Config, Watchdog};

pub const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:123456789012:trail/trailwarden-trail";

pub fn cfg() -> Config {
    config::<Watchdog>(&[("TRAIL_ARNS", TRAIL)])
}

pub fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 8, 3, h, m, 0).unwrap()
}

/// A healthy multi-region trail seen at 12:00: logging, delivered at 11:57, digests at 11:02.
pub fn healthy() -> TrailView {
    TrailView {
        name: "trailwarden-trail".into(),
        arn: Some(TRAIL.into()),
        home_region: Some("us-east-1".into()),
        bucket: Some("trailwarden-trail-123456789012".into()),
        prefix: None,
        multi_region: true,
        organization: false,
        validation: true,
        status: TrailStatus {
            is_logging: Some(true),
            latest_delivery: Some(t(11, 57)),
            latest_digest_delivery: Some(t(11, 2)),
            start_logging: Some(t(8, 0)),
            ..TrailStatus::default()
        },
        digests: DigestView::Regions(
            ["us-east-1", "eu-west-1"]
                .iter()
                .map(|r| RegionDigests {
                    region: r.to_string(),
                    newest: Some(t(11, 2)),
                    newest_key: None,
                    listed_since: t(9, 0),
                })
                .collect(),
        ),
    }
}

pub fn seen(v: TrailView) -> Observation {
    Observation {
        trail: TRAIL.into(),
        state: TrailState::Seen(Box::new(v)),
    }
}
