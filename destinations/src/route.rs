//! Routing: whether a destination takes an alert, and if not, why (pure).

use crate::config::Route;
use trailwarden::glob::glob_match;
use trailwarden::{Alert, Severity};

/// `Ok(())` when the destination takes the alert; otherwise the reason, as the delivery
/// record says it. `floor` is `MIN_SEVERITY`, below which nothing is delivered anywhere.
pub fn decide(route: &Route, floor: Severity, alert: &Alert) -> Result<(), String> {
    if route.off {
        return Err("turned off (min_severity off)".into());
    }
    if alert.severity < floor {
        return Err(format!(
            "{} is below MIN_SEVERITY ({floor}): logged only",
            alert.severity
        ));
    }
    if alert.severity < route.min_severity {
        return Err(format!(
            "{} is below this destination's minimum severity ({})",
            alert.severity, route.min_severity
        ));
    }
    if !route.detections.is_empty()
        && !route
            .detections
            .iter()
            .any(|p| glob_match(p, &alert.detection))
    {
        return Err(format!(
            "detection {} is not among this destination's detections ({})",
            alert.detection,
            route.detections.join(", ")
        ));
    }
    if let Some(p) = route
        .exclude_detections
        .iter()
        .find(|p| glob_match(p, &alert.detection))
    {
        return Err(format!(
            "detection {} is excluded here ({p})",
            alert.detection
        ));
    }
    if !route.accounts.is_empty() {
        match alert.account.as_deref() {
            Some(a) if route.accounts.iter().any(|x| x == a) => {}
            Some(a) => {
                return Err(format!(
                    "account {a} is not among this destination's accounts ({})",
                    route.accounts.join(", ")
                ))
            }
            None => {
                return Err(format!(
                    "the alert names no account; this destination takes only accounts {}",
                    route.accounts.join(", ")
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(min: Severity) -> Route {
        Route {
            off: false,
            min_severity: min,
            detections: Vec::new(),
            exclude_detections: Vec::new(),
            accounts: Vec::new(),
        }
    }

    fn alert(sev: Severity, detection: &str, account: Option<&str>) -> Alert {
        let mut a = Alert::new(sev, detection, "t");
        a.account = account.map(str::to_string);
        a
    }

    #[test]
    fn severity_floor_and_minimum_both_apply() {
        let r = route(Severity::High);
        assert!(decide(&r, Severity::Info, &alert(Severity::Critical, "x", None)).is_ok());
        let why = decide(&r, Severity::Info, &alert(Severity::Medium, "x", None)).unwrap_err();
        assert!(
            why.contains("below this destination's minimum severity (high)"),
            "{why}"
        );
        let why = decide(
            &route(Severity::Info),
            Severity::Low,
            &alert(Severity::Info, "x", None),
        )
        .unwrap_err();
        assert!(why.contains("MIN_SEVERITY"), "{why}");
    }

    #[test]
    fn detection_globs_include_and_exclude() {
        let mut r = route(Severity::Info);
        r.detections = vec!["root-*".into(), "iam-unapproved-user".into()];
        r.exclude_detections = vec!["root-console-sign-in-known-*".into()];
        let ok = |d: &str| decide(&r, Severity::Info, &alert(Severity::High, d, None)).is_ok();
        assert!(ok("root-console-sign-in"));
        assert!(ok("iam-unapproved-user"));
        assert!(!ok("ec2-sg-world-open-ingress"));
        assert!(!ok("root-console-sign-in-known-network"));
    }

    #[test]
    fn account_filter_needs_a_matching_account() {
        let mut r = route(Severity::Info);
        r.accounts = vec!["111122223333".into()];
        let a = |acct| decide(&r, Severity::Info, &alert(Severity::High, "d", acct));
        assert!(a(Some("111122223333")).is_ok());
        assert!(a(Some("444455556666"))
            .unwrap_err()
            .contains("444455556666"));
        assert!(a(None).unwrap_err().contains("names no account"));
    }
}
