//! Small helpers around IAM answers. The SDK plumbing (error classification, paging,
//! backoff) is the shared toolbox's: [`trailwarden::aws`].

/// Formats an SDK date as RFC 3339.
pub fn date(d: &aws_sdk_iam::primitives::DateTime) -> String {
    d.fmt(aws_sdk_iam::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{} seconds since the epoch", d.secs()))
}

/// Every item of a paginated IAM listing, page after page, as one result:
/// `all_items!(iam.list_access_keys().user_name(name))`. (A macro: each listing's request
/// builder is its own SDK type, with no trait in common.)
macro_rules! all_items {
    ($request:expr) => {
        trailwarden::aws::collect_all($request.into_paginator().items().send())
    };
}
pub(crate) use all_items;
