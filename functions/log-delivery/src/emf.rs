//! CloudWatch Embedded Metric Format: one JSON log line per scanned file with its totals, and
//! one per detection that fired (dimension `Detection`), so dashboards and alarms need no
//! metric filters. Lambda sends stdout to CloudWatch Logs, which extracts the metrics.

use serde_json::{json, Value};
use trailwarden::detect::{ScanError, ScanReport};

/// Metric namespace.
pub const NAMESPACE: &str = "trailwarden";

/// The numbers of one scanned object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMetrics {
    pub records: u64,
    /// Decompressed bytes of JSON.
    pub bytes: u64,
    pub compressed_bytes: u64,
    pub unparsed_records: u64,
    pub duration_ms: u64,
    /// 1 when the file could not be read to the end.
    pub unreadable: u64,
    /// (detection id, matching records) for every detection that fired.
    pub findings: Vec<(String, u64)>,
}

impl ObjectMetrics {
    pub fn from_scan(r: &ScanReport, error: Option<&ScanError>, duration_ms: u64) -> Self {
        ObjectMetrics {
            records: r.records,
            bytes: r.bytes,
            compressed_bytes: r.compressed_bytes,
            unparsed_records: r.unparsed_records,
            duration_ms,
            unreadable: u64::from(error.is_some()),
            findings: r
                .findings
                .iter()
                .map(|f| (f.detection.clone(), f.count))
                .collect(),
        }
    }
}

fn doc(function: &str, timestamp_ms: i64, dims: &[&str], metrics: &[(&str, &str, u64)]) -> Value {
    let mut v = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dims],
                "Metrics": metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        },
        "Function": function,
    });
    for (name, _, value) in metrics {
        v[*name] = json!(value);
    }
    v
}

/// The EMF lines for one scanned object.
pub fn lines(function: &str, m: &ObjectMetrics, timestamp_ms: i64) -> Vec<String> {
    let mut out = vec![doc(
        function,
        timestamp_ms,
        &["Function"],
        &[
            ("RecordsScanned", "Count", m.records),
            ("BytesScanned", "Bytes", m.bytes),
            ("CompressedBytesScanned", "Bytes", m.compressed_bytes),
            ("UnparsedRecords", "Count", m.unparsed_records),
            ("ScanDuration", "Milliseconds", m.duration_ms),
            ("UnreadableFiles", "Count", m.unreadable),
            ("Findings", "Count", m.findings.len() as u64),
        ],
    )
    .to_string()];
    for (detection, count) in &m.findings {
        let mut d = doc(
            function,
            timestamp_ms,
            &["Function", "Detection"],
            &[("FindingRecords", "Count", *count)],
        );
        d["Detection"] = json!(detection);
        out.push(d.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_one_line_per_detection_in_emf_shape() {
        let m = ObjectMetrics {
            records: 22,
            bytes: 26_323,
            compressed_bytes: 3_788,
            unparsed_records: 1,
            duration_ms: 12,
            unreadable: 0,
            findings: vec![
                ("cis-4.3-root-usage".into(), 2),
                ("iam-user-created".into(), 1),
            ],
        };
        let lines = lines("log-delivery", &m, 1_722_519_612_000);
        assert_eq!(lines.len(), 3);
        let total: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(total["_aws"]["Timestamp"], 1_722_519_612_000i64);
        let decl = &total["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(decl["Namespace"], "trailwarden");
        assert_eq!(decl["Dimensions"], json!([["Function"]]));
        // Every declared metric has its value at the top level, as EMF requires.
        for metric in decl["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(total[name].is_u64(), "{name} has no value");
        }
        assert_eq!(total["RecordsScanned"], 22);
        assert_eq!(total["BytesScanned"], 26_323);
        assert_eq!(total["Findings"], 2);
        assert_eq!(total["Function"], "log-delivery");
        let per: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(
            per["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Detection"]])
        );
        assert_eq!(per["Detection"], "cis-4.3-root-usage");
        assert_eq!(per["FindingRecords"], 2);
    }
}
