//! Pure: a batch as the state machine hands it over becomes one step per object, judged from
//! its key, and (offline, nothing read) one result per object.

use backfill::{batch, Backfill, BatchResult, ObjectKind, Request, Source};
use serde_json::json;
use trailwarden::alert::Status;
use trailwarden::respond::Settings as _;
use trailwarden::respond::{plan_offline, Decide, Decision};
use trailwarden::Payload;

const ORG: &str = "AWSLogs/o-7k2m9x4q1z/111122223333";

fn batch() -> serde_json::Value {
    json!({
        "Items": [
            {"Etag": "\"b1946ac92492d2347c6235b4d2611184\"", "Key": format!("{ORG}/CloudTrail/eu-west-1/2023/11/02/111122223333_CloudTrail_eu-west-1_20231102T0405Z_AbCdEfGh12345678.json.gz"), "LastModified": "2023-11-02T04:09:51.000Z", "Size": 4817, "StorageClass": "STANDARD"},
            {"Etag": "\"591785b794601e212b260e25925636fd\"", "Key": format!("{ORG}/CloudTrail-Digest/eu-west-1/2023/11/02/111122223333_CloudTrail-Digest_eu-west-1_org-trail_us-east-1_20231102T050512Z.json.gz"), "LastModified": "2023-11-02T05:05:40.000Z", "Size": 1211, "StorageClass": "STANDARD"},
            {"Etag": "\"0e9c5d1c4a8b7d3f2e1a6b5c4d3e2f1a\"", "Key": format!("{ORG}/CloudTrail-Insight/eu-west-1/2023/11/02/111122223333_CloudTrail-Insight_eu-west-1_20231102T0410Z_QrStUvWx87654321.json.gz"), "LastModified": "2023-11-02T04:15:02.000Z", "Size": 903, "StorageClass": "STANDARD"},
            {"Etag": "\"d41d8cd98f00b204e9800998ecf8427e\"", "Key": "AWSLogs/o-7k2m9x4q1z/111122223333/CloudTrail/eu-west-1/2023/11/02/", "LastModified": "2023-11-02T00:00:01.000Z", "Size": 0, "StorageClass": "STANDARD"}
        ],
        "BatchInput": {"bucket": "org-trail-archive", "source": "prefix"}
    })
}

fn payload() -> Payload {
    let Request::Batch(b) = batch::parse(&batch()).unwrap() else {
        panic!("a batch")
    };
    assert_eq!(b.source, Source::Prefix);
    Payload::S3Objects(b.objects)
}

#[test]
fn each_object_gets_the_step_its_key_calls_for() {
    let config = backfill::Config::defaults();
    let Decision::Respond { case, plan } = Backfill::decide(&config, &payload(), &()) else {
        panic!("a batch is never ignored")
    };
    let kinds: Vec<ObjectKind> = case.objects.iter().map(|(_, k)| *k).collect();
    assert_eq!(
        kinds,
        [
            ObjectKind::Log,
            ObjectKind::Digest,
            ObjectKind::Skipped,
            ObjectKind::Skipped
        ]
    );
    let names: Vec<String> = plan
        .iter()
        .map(|p| trailwarden::respond::StepKind::name(&p.step))
        .collect();
    assert_eq!(names[0], "scan log file");
    assert_eq!(names[1], "verify digest");
    assert_eq!(plan[0].status, Status::Planned);
    assert_eq!(plan[1].status, Status::Planned);
    assert_eq!(plan[2].status, Status::Skipped);
    assert!(plan[2].detail.as_deref().unwrap().contains("Insights"));
    assert_eq!(plan[3].status, Status::Skipped);
    assert!(plan
        .iter()
        .all(|p| !trailwarden::respond::StepKind::changes(&p.step)));
}

#[test]
fn the_offline_plan_answers_one_result_per_object_and_no_alert() {
    let outcome = plan_offline::<Backfill>(&backfill::Config::defaults(), &payload());
    assert!(outcome.alerts.is_empty(), "batches never alert");
    let r: &BatchResult = &outcome.stats;
    assert_eq!(r.objects.len(), 4);
    assert_eq!(r.objects[0].bucket, "org-trail-archive");
    assert_eq!(r.objects[0].kind, ObjectKind::Log);
    assert_eq!(r.objects[1].kind, ObjectKind::Digest);
    assert_eq!(r.objects[2].kind, ObjectKind::Skipped);
    assert!(r.objects[2].reason.as_deref().unwrap().contains("Insights"));
    assert!(
        r.objects[3].reason.is_some(),
        "a folder marker says why it is skipped"
    );
}

#[test]
fn an_empty_batch_or_another_payload_is_ignored_with_the_reason() {
    let config = backfill::Config::defaults();
    let empty = Backfill::decide(&config, &Payload::S3Objects(vec![]), &());
    assert!(matches!(empty, Decision::Ignore(r) if r == backfill::decide::EMPTY_BATCH));
    let other = Backfill::decide(&config, &Payload::Record(Box::default()), &());
    assert!(matches!(other, Decision::Ignore(r) if r == backfill::decide::NOT_A_BATCH));
}
