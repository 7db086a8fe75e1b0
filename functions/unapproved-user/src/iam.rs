//! Small helpers around IAM answers. The SDK plumbing (error classification, paging,
//! backoff) is the shared toolbox's: [`trailwarden::aws`].

/// Formats an SDK date as RFC 3339.
pub fn date(d: &aws_sdk_iam::primitives::DateTime) -> String {
    d.fmt(aws_sdk_iam::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{} seconds since the epoch", d.secs()))
}
