//! Destination settings as the cold start reads them: the documented defaults, routing
//! overrides, and every malformed setting refused with a message naming it (a secret's value
//! never shown).

use trailwarden::config::Common;
use trailwarden::Severity;
use trailwarden_destinations::config::{Kind, PAGERDUTY_EVENTS_URL};
use trailwarden_destinations::{Router, Settings};
use trailwarden_testkit::env;

fn read(dest: &str, routing: Option<&str>) -> Result<Option<Settings>, String> {
    let mut vars = vec![("ALERT_DESTINATIONS", dest)];
    if let Some(r) = routing {
        vars.push(("ALERT_ROUTING", r));
    }
    Settings::from_env(&env(&vars)).map_err(|e| e.to_string())
}

fn refused(dest: &str) -> String {
    read(dest, None).expect_err(dest)
}

const ALL: &str = r#"[
  {"type": "sns"},
  {"type": "chatbot", "topic_arn": "arn:aws:sns:us-east-1:123456789012:trailwarden-chat"},
  {"type": "securityhub"},
  {"type": "pagerduty", "secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:pd-AbCdEf"},
  {"type": "webhook", "url": "https://siem.example.com/hooks/trailwarden", "secret": "trailwarden/webhook"}
]"#;

#[test]
fn unset_means_no_routing_as_before() {
    assert_eq!(Settings::from_env(&env(&[])).unwrap(), None);
    assert_eq!(
        Settings::from_env(&env(&[("ALERT_DESTINATIONS", "  ")])).unwrap(),
        None
    );
}

#[test]
fn documented_defaults_email_and_chat_high_security_hub_everything() {
    let s = read(ALL, None).unwrap().unwrap();
    let got: Vec<(&str, &str, Severity)> = s
        .destinations
        .iter()
        .map(|d| (d.name.as_str(), d.kind.type_name(), d.route.min_severity))
        .collect();
    assert_eq!(
        got,
        vec![
            ("email", "sns", Severity::High),
            ("chat", "chatbot", Severity::High),
            ("securityhub", "securityhub", Severity::Info),
            ("pagerduty", "pagerduty", Severity::Critical),
            ("webhook", "webhook", Severity::Low),
        ]
    );
    match &s.destinations[3].kind {
        Kind::PagerDuty {
            events_url,
            max_attempts,
            ..
        } => {
            assert_eq!(events_url, PAGERDUTY_EVENTS_URL);
            assert_eq!(*max_attempts, 3);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.secrets(),
        vec![
            (
                "pagerduty",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:pd-AbCdEf"
            ),
            ("webhook", "trailwarden/webhook")
        ]
    );
}

#[test]
fn routing_overrides_by_name_and_off_drops_a_destination() {
    let s = read(
        ALL,
        Some(
            r#"{"pagerduty": {"min_severity": "high", "detections": ["root-*", "iam-unapproved-user"]},
                "webhook": {"accounts": "111122223333, 444455556666", "exclude_detections": ["cis-4.1-*"]},
                "chat": {"min_severity": "off"}}"#,
        ),
    )
    .unwrap()
    .unwrap();
    let names: Vec<&str> = s.destinations.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, vec!["email", "securityhub", "pagerduty", "webhook"]);
    let pd = &s.destinations[2].route;
    assert_eq!(pd.min_severity, Severity::High);
    assert_eq!(pd.detections, vec!["root-*", "iam-unapproved-user"]);
    let hook = &s.destinations[3].route;
    assert_eq!(hook.accounts, vec!["111122223333", "444455556666"]);
    assert_eq!(hook.exclude_detections, vec!["cis-4.1-*"]);
}

#[test]
fn malformed_documents_name_the_setting() {
    let e = refused("{\"type\": \"sns\"");
    assert!(
        e.contains("ALERT_DESTINATIONS=") && e.contains("JSON array"),
        "{e}"
    );
    let e = refused(r#"{"type": "sns"}"#);
    assert!(
        e.contains("ALERT_DESTINATIONS=") && e.contains("array"),
        "{e}"
    );
    let e = refused(r#"[{"type": "slack"}]"#);
    assert!(e.contains("ALERT_DESTINATIONS[0].type=\"slack\""), "{e}");
    assert!(e.contains("chatbot"), "{e}");
    let e = refused(
        r#"[{"type": "sns"}, {"type": "pagerduty", "secret": "pd", "min_severity": "urgent"}]"#,
    );
    assert!(
        e.contains("ALERT_DESTINATIONS[1] (pagerduty).min_severity=\"urgent\""),
        "{e}"
    );
    assert!(e.contains("off"), "{e}");
    let e = refused(r#"[{"type": "chatbot"}]"#);
    assert!(
        e.contains("ALERT_DESTINATIONS[0] (chatbot).topic_arn"),
        "{e}"
    );
    assert!(e.contains("required"), "{e}");
    let e = refused(r#"[{"type": "chatbot", "topic_arn": "trailwarden-chat"}]"#);
    assert!(e.contains("topic_arn=\"trailwarden-chat\""), "{e}");
    let e = refused(r#"[{"type": "webhook", "url": "https://x.example.com/h"}]"#);
    assert!(e.contains("ALERT_DESTINATIONS[0] (webhook).secret"), "{e}");
    let e = refused(r#"[{"type": "sns"}, {"type": "sns"}]"#);
    assert!(e.contains("ALERT_DESTINATIONS[1].name=\"email\""), "{e}");
    let e = refused(
        r#"[{"type": "webhook", "url": "https://x.example.com/h", "secret": "s", "accounts": ["prod"]}]"#,
    );
    assert!(e.contains("(webhook).accounts=\"prod\""), "{e}");
    let e = refused(r#"[{"type": "pagerduty", "secret": "s", "max_attempts": 50}]"#);
    assert!(e.contains("(pagerduty).max_attempts=\"50\""), "{e}");
    let e = refused(r#"[{"type": "sns", "colour": "red"}]"#);
    assert!(
        e.contains("(sns).colour") && e.contains("unknown field"),
        "{e}"
    );
}

#[test]
fn webhooks_and_pagerduty_need_https_except_to_loopback() {
    let e = refused(r#"[{"type": "webhook", "url": "http://siem.example.com/h", "secret": "s"}]"#);
    assert!(e.contains("(webhook).url") && e.contains("https"), "{e}");
    let e = refused(r#"[{"type": "pagerduty", "secret": "s", "events_url": "ftp://x/y"}]"#);
    assert!(e.contains("(pagerduty).events_url"), "{e}");
    assert!(read(
        r#"[{"type": "webhook", "url": "http://127.0.0.1:8080/h", "secret": "s"},
            {"type": "pagerduty", "secret": "p", "events_url": "http://127.0.0.1:9/v2/enqueue"}]"#,
        None
    )
    .is_ok());
}

#[test]
fn a_secret_written_inline_is_refused_without_showing_it() {
    let key = "R0123456789abcdef0123456789abcdef";
    let e = refused(&format!(
        r#"[{{"type": "pagerduty", "secret": "pd", "routing_key": "{key}"}}]"#
    ));
    assert!(e.contains("(pagerduty).routing_key"), "{e}");
    assert!(e.contains("Secrets Manager"), "{e}");
    assert!(!e.contains(key), "the key leaked: {e}");
    let e = refused(&format!(
        r#"[{{"type": "pagerduty", "secret": "{key} x"}}]"#
    ));
    assert!(!e.contains(key), "the key leaked: {e}");
}

#[test]
fn routing_for_an_unknown_destination_is_refused() {
    let e = read(
        r#"[{"type": "sns"}]"#,
        Some(r#"{"pagerduty": {"min_severity": "high"}}"#),
    )
    .unwrap_err();
    assert!(e.contains("ALERT_ROUTING=\"pagerduty\""), "{e}");
    assert!(e.contains("configured: email"), "{e}");
    let e = read(r#"[{"type": "sns"}]"#, Some("[]")).unwrap_err();
    assert!(e.contains("ALERT_ROUTING="), "{e}");
    let e = read(
        r#"[{"type": "sns"}]"#,
        Some(r#"{"email": {"topic_arn": "x"}}"#),
    )
    .unwrap_err();
    assert!(e.contains("ALERT_ROUTING.email.topic_arn"), "{e}");
}

#[test]
fn security_hub_needs_a_product_when_no_topic_says_the_account() {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let s = Settings::parse(r#"[{"type": "securityhub"}]"#).unwrap();
    let e = Router::new(&sdk, s.clone(), &Common::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("ALERT_DESTINATIONS (securityhub).product_arn"),
        "{e}"
    );
    let common = Common {
        alert_topic_arn: Some("arn:aws:sns:eu-west-1:123456789012:alerts".into()),
        ..Common::default()
    };
    let r = Router::new(&sdk, s, &common).unwrap();
    assert_eq!(
        r.describe()[0].target,
        "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    );
}
