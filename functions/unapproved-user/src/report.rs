//! The alert: who created which user, from where, why it is not approved, what was done and
//! whether it worked.

use crate::approval::creator_label;
use crate::config::{Config, Mode};
use crate::decide::{planned_actions, Response};
use crate::evidence::Evidence;
use std::time::Duration;
use trailwarden::{Action, Alert, Record, Severity, Status};

/// Detection id of this function's alerts.
pub const DETECTION: &str = "iam-unapproved-user";

/// Evidence larger than this goes into the alert without policy documents.
pub const MAX_ALERT_EVIDENCE_BYTES: usize = 64 * 1024;

/// What became of the user when the response ran.
#[derive(Debug, Clone, PartialEq)]
pub enum UserState {
    /// The user existed; its evidence was captured.
    Found,
    /// `NoSuchEntity` throughout the retry window.
    Gone { waited: Duration },
    /// A user with that name exists, but it is not the one this event created.
    Replaced { current_id: String },
    /// `GetUser` failed: nothing was captured or changed.
    LookupFailed(String),
}

/// What the response did.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub state: UserState,
    pub evidence: Option<Evidence>,
    /// Where the evidence object is (written now or by an earlier delivery).
    pub evidence_uri: Option<String>,
    pub actions: Vec<Action>,
}

impl Execution {
    pub fn failures(&self) -> Vec<&Action> {
        self.actions
            .iter()
            .filter(|a| a.status == Status::Failed)
            .collect()
    }
}

fn title(resp: &Response, exec: Option<&Execution>) -> String {
    let u = &resp.user.name;
    let Some(exec) = exec else {
        return match resp.mode {
            Mode::Delete => format!("Unapproved IAM user {u} would be deleted"),
            Mode::Quarantine => format!("Unapproved IAM user {u} would be quarantined"),
            Mode::Notify => format!("Unapproved IAM user {u} created"),
        };
    };
    match &exec.state {
        UserState::Gone { .. } => format!("Unapproved IAM user {u} already gone"),
        UserState::Replaced { .. } => {
            format!("Unapproved IAM user {u} already gone (name reused)")
        }
        UserState::LookupFailed(_) => {
            format!("Unapproved IAM user {u} could not be inspected; nothing changed")
        }
        UserState::Found => {
            let failed = !exec.failures().is_empty();
            match (resp.mode, failed) {
                (Mode::Delete, false) => format!("Unapproved IAM user {u} deleted"),
                (Mode::Delete, true) => format!("Unapproved IAM user {u}: deletion incomplete"),
                (Mode::Quarantine, false) => format!("Unapproved IAM user {u} quarantined"),
                (Mode::Quarantine, true) => {
                    format!("Unapproved IAM user {u}: quarantine incomplete")
                }
                (Mode::Notify, _) => format!("Unapproved IAM user {u} created"),
            }
        }
    }
}

fn result_sentence(resp: &Response, exec: Option<&Execution>) -> String {
    let Some(exec) = exec else {
        return format!(
            "DRY_RUN is set: nothing was changed. The response RESPONSE_MODE={} would take is listed below.",
            resp.mode.as_str()
        );
    };
    let failures = exec.failures();
    let retry = "The invocation fails so that Lambda retries; every step is idempotent.";
    match &exec.state {
        UserState::Gone { waited } => format!(
            "The user no longer exists (IAM answered NoSuchEntity for {:.1} s): nothing is left to do. An earlier delivery of this event may have removed it.",
            waited.as_secs_f64()
        ),
        UserState::Replaced { current_id } => format!(
            "A user named {} exists, but its id is {current_id}, not {} as created by this event: it was deleted and re-created since, so it is left untouched.",
            resp.user.name,
            resp.user.user_id.as_deref().unwrap_or("(unknown)")
        ),
        UserState::LookupFailed(e) => format!(
            "GetUser failed ({e}), so no evidence could be captured and nothing was changed. {retry}"
        ),
        UserState::Found if !failures.is_empty() => format!(
            "{} step(s) failed: {}. {retry}",
            failures.len(),
            failures
                .iter()
                .map(|a| format!("{} {}", a.step, a.target))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        UserState::Found => match resp.mode {
            Mode::Delete => "Its state was captured as evidence, everything attached to it was removed and the user was deleted.".into(),
            Mode::Quarantine => "Its state was captured as evidence, then it was quarantined: AWSDenyAll attached, console password deleted, access keys set Inactive, tagged trailwarden:quarantined. To release it, detach AWSDenyAll, reactivate the keys and remove the trailwarden:* tags.".into(),
            Mode::Notify => "RESPONSE_MODE=notify: its state was captured as evidence and the user was left in place.".into(),
        },
    }
}

/// Builds the alert for a response; `exec` is `None` for a dry run (planned steps only).
pub fn alert(config: &Config, record: &Record, resp: &Response, exec: Option<&Execution>) -> Alert {
    let user = &resp.user;
    let evidence = exec.and_then(|e| e.evidence.as_ref());
    let credentials = evidence.map(Evidence::credentials).unwrap_or_default();
    let admin = evidence.map(Evidence::admin_grants).unwrap_or_default();
    let severity = if credentials.is_empty() && admin.is_empty() {
        Severity::High
    } else {
        Severity::Critical
    };
    let mut a = Alert::new(severity, DETECTION, title(resp, exec)).about(record);
    a.account_alias = config.common.account_alias.clone();
    a.dry_run = exec.is_none();

    let who = creator_label(&resp.creator);
    let mut summary = format!(
        "IAM user {} ({}) was created by {who}",
        user.name,
        user.arn.as_deref().unwrap_or("ARN not in the event")
    );
    if let Some(ip) = &record.source_ip_address {
        summary.push_str(&format!(" from {ip}"));
    }
    if let Some(t) = &record.event_time {
        summary.push_str(&format!(" at {t}"));
    }
    summary.push_str(&format!(
        ". It is not approved: {}. {}",
        resp.reason,
        result_sentence(resp, exec)
    ));
    if !credentials.is_empty() || !admin.is_empty() {
        summary.push_str(
            " Severity is critical: the user already held credentials or administrator-level access before the response.",
        );
    }
    a.summary = summary;

    a = a
        .fact("User", &user.name)
        .fact("User ARN", user.arn.as_deref().unwrap_or("unknown"))
        .fact("Path", &user.path);
    if let Some(id) = &user.user_id {
        a = a.fact("User ID", id);
    }
    if let Some(d) = &user.create_date {
        a = a.fact("Created (as logged)", d);
    }
    a = a
        .fact("Created by", &who)
        .fact("Creator type", resp.creator.kind());
    if let Some(arn) = &resp.creator_arn {
        a = a.fact("Creator matched as", arn);
    }
    a = a.fact("Approval", format!("not approved: {}", resp.reason));
    a = a.fact(
        "Response mode",
        if exec.is_none() {
            format!("{} (dry run: nothing changed)", resp.mode.as_str())
        } else {
            resp.mode.as_str().to_string()
        },
    );
    if let Some(e) = evidence {
        a = a.fact(
            "Credentials before response",
            if credentials.is_empty() {
                "none".to_string()
            } else {
                credentials.join("; ")
            },
        );
        a = a.fact(
            "Administrator-level access before response",
            if admin.is_empty() {
                "none found".to_string()
            } else {
                admin.join("; ")
            },
        );
        if !e.gaps.is_empty() {
            a = a.fact(
                "Evidence gaps",
                e.gaps
                    .iter()
                    .map(|g| format!("{}: {}", g.what, g.error))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
    }
    if let Some(exec) = exec {
        a = a.fact(
            "Evidence stored",
            match (&exec.evidence_uri, &config.evidence_bucket) {
                (Some(uri), _) => uri.clone(),
                (None, Some(_)) if evidence.is_some() => "no: see PutEvidence below".into(),
                (None, Some(_)) => "no: nothing was captured".into(),
                (None, None) => {
                    "no (EVIDENCE_BUCKET is not set): the evidence is in this alert only".into()
                }
            },
        );
        a.actions = exec.actions.clone();
        a.evidence =
            evidence.map(|e| e.for_alert(MAX_ALERT_EVIDENCE_BYTES, exec.evidence_uri.as_deref()));
    } else {
        a.actions = planned_actions(resp, config.evidence_bucket.as_deref());
    }
    a.references = vec![
        "MITRE ATT&CK T1136.003 Create Account: Cloud Account: https://attack.mitre.org/techniques/T1136/003/".into(),
        "Deleting an IAM user: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_remove.html".into(),
    ];
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{decide, Decision};
    use crate::evidence::{AccessKey, SCHEMA};
    use std::collections::HashMap;
    use trailwarden::Payload;

    fn setup(env: &[(&str, &str)]) -> (Config, Payload, Response) {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::from_env(&env).unwrap();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/iam-create-user-by-assumed-role.json"
        );
        let payload = Payload::parse(&std::fs::read(path).unwrap()).unwrap();
        let Decision::Respond(r) = decide(&config, &config.approvals, &payload) else {
            panic!()
        };
        (config, payload, *r)
    }

    #[test]
    fn dry_run_alert_lists_the_plan_and_says_nothing_changed() {
        let (config, payload, resp) = setup(&[("DRY_RUN", "true"), ("ACCOUNT_ALIAS", "prod")]);
        let a = alert(&config, payload.record().unwrap(), &resp, None);
        assert!(a.dry_run);
        assert_eq!(a.severity, Severity::High);
        assert_eq!(
            a.title,
            "Unapproved IAM user backup-operator would be deleted"
        );
        assert!(a.subject().contains("[dry-run]"), "{}", a.subject());
        assert!(a.subject().contains("prod 123456789012"), "{}", a.subject());
        assert!(a.actions.iter().all(|x| x.status == Status::Planned));
        assert!(a.summary.contains("DRY_RUN is set: nothing was changed"));
        let text = a.render().text;
        for needle in [
            "arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/jdoe (role arn:aws:iam::123456789012:role/DevOpsAdmin)",
            "203.0.113.77",
            "aws-cli/2.15.30",
            "2024-08-02T09:12:44Z",
            "c1f0e9d8-7b6a-4c5d-9e3f-2a1b0c9d8e7f",
            "us-east-1",
            "not approved: created by",
            "DeleteUser backup-operator: planned",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn credentials_make_it_critical_and_failures_show_in_title() {
        let (config, payload, resp) = setup(&[]);
        let mut ev = Evidence {
            schema: SCHEMA,
            ..Default::default()
        };
        let exec = |ev: &Evidence, actions: Vec<Action>| Execution {
            state: UserState::Found,
            evidence: Some(ev.clone()),
            evidence_uri: None,
            actions,
        };
        let ok = vec![Action::new("DeleteUser", "backup-operator", Status::Done)];
        let a = alert(
            &config,
            payload.record().unwrap(),
            &resp,
            Some(&exec(&ev, ok.clone())),
        );
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.title, "Unapproved IAM user backup-operator deleted");
        ev.access_keys.push(AccessKey {
            access_key_id: "AKIAEXAMPLE".into(),
            status: "Active".into(),
            create_date: None,
            last_used: None,
            last_used_service: None,
            last_used_region: None,
        });
        let a = alert(
            &config,
            payload.record().unwrap(),
            &resp,
            Some(&exec(&ev, ok)),
        );
        assert_eq!(a.severity, Severity::Critical);
        assert!(a
            .facts
            .iter()
            .any(|(k, v)| k == "Credentials before response" && v.contains("AKIAEXAMPLE")));
        let failed = vec![Action::new("DeleteUser", "backup-operator", Status::Failed)
            .with_detail("DeleteConflict: must delete policies first")];
        let a = alert(
            &config,
            payload.record().unwrap(),
            &resp,
            Some(&exec(&ev, failed)),
        );
        assert_eq!(
            a.title,
            "Unapproved IAM user backup-operator: deletion incomplete"
        );
        assert!(a
            .summary
            .contains("1 step(s) failed: DeleteUser backup-operator"));
    }

    #[test]
    fn a_user_already_gone_is_reported_as_such() {
        let (config, payload, resp) = setup(&[("RESPONSE_MODE", "quarantine")]);
        let exec = Execution {
            state: UserState::Gone {
                waited: Duration::from_secs(20),
            },
            evidence: None,
            evidence_uri: None,
            actions: vec![],
        };
        let a = alert(&config, payload.record().unwrap(), &resp, Some(&exec));
        assert_eq!(a.title, "Unapproved IAM user backup-operator already gone");
        assert!(
            a.summary.contains("NoSuchEntity for 20.0 s"),
            "{}",
            a.summary
        );
    }
}
