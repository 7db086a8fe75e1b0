//! The `self` detection family: changes to trailwarden's own resources, built at cold start.
//!
//! The names of a deployed stack's resources are only known once it is deployed, so these
//! detections are not a file in `shared/detections/`: the template passes the names
//! (`SELF_RESOURCES`, `TRAIL_ARNS`), and [`catalog`] writes one detection per kind of
//! resource in the catalog format, with the names in its pattern, and compiles it with the
//! shared engine ([`Catalog::from_json`]). Every generated detection carries examples made
//! from the configured names (one that must match, one that must not), so a pattern that does
//! not do what it should stops the cold start.
//!
//! Names may be globs (`trailwarden-*`): CloudFormation names a stack's rules, functions and
//! roles `<stack>-<logical id>-<random>`, so the stack name and a `*` cover every one of them,
//! including those added later.

use crate::config::{SelfResources, TrailRef, SELF_RESOURCES};
use serde_json::{json, Value};
use trailwarden::detect::{Catalog, CatalogError};

/// The family name of these detections.
pub const FAMILY: &str = "self";

/// MITRE ATT&CK: Impair Defenses: Disable or Modify Tools.
const T_DISABLE_TOOLS: &str = "T1562.001";
/// MITRE ATT&CK: Impair Defenses: Disable or Modify Cloud Logs.
const T_CLOUD_LOGS: &str = "T1562.008";
/// MITRE ATT&CK: Indicator Removal.
const T_INDICATOR_REMOVAL: &str = "T1070";

/// Detection ids, in the order they are written.
pub const RULE: &str = "self-eventbridge-rule";
pub const FUNCTION: &str = "self-lambda-function";
pub const THROTTLED: &str = "self-lambda-throttled";
pub const EVENT_SOURCE_MAPPING: &str = "self-lambda-event-source-mapping";
pub const ROLE: &str = "self-iam-role";
pub const ROLE_DENY: &str = "self-iam-role-deny-policy";
pub const ROLE_POLICY: &str = "self-iam-role-policy-replaced";
pub const ROLE_PASSED: &str = "self-iam-role-passed-to-function";
pub const ROLE_LOOKALIKE: &str = "self-iam-role-lookalike";
pub const SECRET: &str = "self-destination-secret";
pub const TABLE: &str = "self-state-table";
pub const TOPIC: &str = "self-sns-topic";
pub const QUEUE: &str = "self-sqs-queue";
pub const BUCKET: &str = "self-trail-bucket";
pub const TRAIL: &str = "self-trail";
pub const KEY: &str = "self-kms-key";
pub const ALARM: &str = "self-cloudwatch-alarm";
pub const POLICY: &str = "self-iam-managed-policy";
pub const STACK_DELETED: &str = "self-stack-deleted";
pub const STACK_UPDATED: &str = "self-stack-updated";

/// Exact value, or `{"wildcard": ...}` when the configured value holds a `*`.
fn name(v: &str) -> Value {
    if v.contains('*') {
        json!({ "wildcard": v })
    } else {
        json!(v)
    }
}

fn names(values: &[String]) -> Vec<Value> {
    values.iter().map(|v| name(v)).collect()
}

/// An IAM ARN of `kind` (`role`, `policy`) named `name` (wildcards allowed), with or without a
/// path: `arn:*:iam::*:role/NAME`, `arn:*:iam::*:role/*/NAME`.
fn iam_arns(kind: &str, name: &str) -> [Value; 2] {
    [
        json!({ "wildcard": format!("arn:*:iam::*:{kind}/{name}") }),
        json!({ "wildcard": format!("arn:*:iam::*:{kind}/*/{name}") }),
    ]
}

/// How a call may name a secret: its full ARN, its ARN without the six characters Secrets
/// Manager appends (a partial ARN), or its name.
fn secret_names(secrets: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for arn in secrets {
        out.push(name(arn));
        let Some((_, full_name)) = arn.split_once(":secret:") else {
            continue;
        };
        match full_name.rsplit_once('-') {
            Some((plain, suffix)) if suffix.len() == 6 => {
                let partial = &arn[..arn.len() - 7];
                out.push(json!({ "prefix": partial }));
                out.push(name(plain));
            }
            _ => out.push(name(full_name)),
        }
    }
    out
}

/// How a call may name a table: `tableName` (and the names of the calls that create one)
/// takes its name or its ARN.
fn table_names(tables: &[String]) -> Vec<Value> {
    let mut out = names(tables);
    out.extend(table_arns(tables));
    out
}

/// A table's ARN, in any partition, region and account: what the resource policy calls name
/// (`resourceArn`).
fn table_arns(tables: &[String]) -> Vec<Value> {
    tables
        .iter()
        .map(|t| json!({ "wildcard": format!("arn:*:dynamodb:*:*:table/{t}") }))
        .collect()
}

/// A value standing for the configured one in an example (`*` filled in).
fn sample(v: &str) -> String {
    v.replace('*', "x1")
}

/// A function named by name, ARN or partial ARN (with or without a qualifier).
fn function_names(functions: &[String]) -> Vec<Value> {
    let mut out = names(functions);
    for f in functions {
        out.push(json!({ "wildcard": format!("*:function:{f}") }));
        out.push(json!({ "wildcard": format!("*:function:{f}:*") }));
    }
    out
}

fn trail_names(trails: &[TrailRef]) -> Vec<Value> {
    let mut out = Vec::new();
    for t in trails {
        out.push(json!(t.name));
        out.push(json!({ "wildcard": format!("arn:*:cloudtrail:*:*:trail/{}", t.name) }));
    }
    out
}

fn key_names(keys: &[String]) -> Vec<Value> {
    let mut out = names(keys);
    for k in keys {
        match k.rsplit_once(":key/") {
            Some((_, id)) => out.push(name(id)),
            None => out.push(json!({ "wildcard": format!("arn:*:kms:*:*:key/{k}") })),
        }
    }
    out
}

/// A record for an example: what the pattern reads, with a principal.
fn record(source: &str, event: &str, request: Value) -> Value {
    json!({
        "eventSource": source,
        "eventName": event,
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/someone"},
        "requestParameters": request,
    })
}

/// The generated detections (JSON, in the catalog file format).
pub fn detections(r: &SelfResources, trails: &[TrailRef]) -> Value {
    let other = "not-trailwarden-xyz";
    let mut list: Vec<Value> = Vec::new();
    let runbook_common = "Find out who made the call (userIdentity, sourceIPAddress, \
        userAgent) and whether it was a planned change of trailwarden's stack; if not, treat \
        the principal as compromised: revoke its sessions and keys, then restore the resource \
        by redeploying the stack (sam deploy) and check what happened while trailwarden was \
        impaired (the log files of that period, log-integrity's verdicts).";

    if let Some(first) = r.rules.first() {
        let n = sample(first);
        list.push(json!({
            "id": RULE,
            "title": "trailwarden's EventBridge rule changed",
            "severity": "critical",
            "description": "One of the EventBridge rules that route events to trailwarden was \
                disabled, deleted, redefined or lost or changed its targets: the events it \
                routed no longer reach trailwarden, or reach something else.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["events.amazonaws.com"],
                "eventName": ["DisableRule", "DeleteRule", "PutRule", "RemoveTargets", "PutTargets"],
                "$or": [
                    {"requestParameters": {"name": names(&r.rules)}},
                    {"requestParameters": {"rule": names(&r.rules)}}
                ]
            },
            "examples": {
                "match": [
                    record("events.amazonaws.com", "DisableRule", json!({"name": n})),
                    record("events.amazonaws.com", "RemoveTargets", json!({"rule": n, "ids": ["1"]}))
                ],
                "no_match": [
                    record("events.amazonaws.com", "DisableRule", json!({"name": other})),
                    record("events.amazonaws.com", "EnableRule", json!({"name": n}))
                ]
            }
        }));
    }

    if let Some(first) = r.functions.first() {
        let n = sample(first);
        let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{n}");
        list.push(json!({
            "id": FUNCTION,
            "title": "trailwarden's Lambda function changed",
            "severity": "critical",
            "description": "One of trailwarden's Lambda functions was deleted, had its code or \
                configuration replaced (environment such as DRY_RUN or ALERT_TOPIC_ARN, role, \
                handler), lost the permission that lets EventBridge invoke it, or had its \
                failure destination changed.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["lambda.amazonaws.com"],
                "eventName": [
                    {"prefix": "DeleteFunction"}, {"prefix": "UpdateFunctionCode"},
                    {"prefix": "UpdateFunctionConfiguration"}, {"prefix": "RemovePermission"},
                    {"prefix": "PutFunctionEventInvokeConfig"},
                    {"prefix": "UpdateFunctionEventInvokeConfig"}
                ],
                "requestParameters": {"functionName": function_names(&r.functions)}
            },
            "examples": {
                "match": [
                    record("lambda.amazonaws.com", "DeleteFunction20150331", json!({"functionName": n})),
                    record("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2",
                        json!({"functionName": arn}))
                ],
                "no_match": [
                    record("lambda.amazonaws.com", "DeleteFunction20150331", json!({"functionName": other})),
                    record("lambda.amazonaws.com", "GetFunction20150331v2", json!({"functionName": n}))
                ]
            }
        }));
        list.push(json!({
            "id": THROTTLED,
            "title": "trailwarden's Lambda function throttled to zero",
            "severity": "critical",
            "description": "The reserved concurrency of one of trailwarden's functions was set \
                to 0: every invocation is throttled, the function never runs.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["lambda.amazonaws.com"],
                "eventName": [{"prefix": "PutFunctionConcurrency"}],
                "requestParameters": {
                    "functionName": function_names(&r.functions),
                    "reservedConcurrentExecutions": [{"numeric": ["=", 0]}]
                }
            },
            "examples": {
                "match": [
                    record("lambda.amazonaws.com", "PutFunctionConcurrency20171031",
                        json!({"functionName": n, "reservedConcurrentExecutions": 0}))
                ],
                "no_match": [
                    record("lambda.amazonaws.com", "PutFunctionConcurrency20171031",
                        json!({"functionName": n, "reservedConcurrentExecutions": 5})),
                    record("lambda.amazonaws.com", "PutFunctionConcurrency20171031",
                        json!({"functionName": other, "reservedConcurrentExecutions": 0}))
                ]
            }
        }));
        list.push(json!({
            "id": EVENT_SOURCE_MAPPING,
            "title": "Event source of trailwarden's Lambda function removed",
            "severity": "critical",
            "description": "An event source mapping feeding one of trailwarden's functions was \
                deleted or changed: what it delivered no longer reaches the function.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["lambda.amazonaws.com"],
                "eventName": [{"prefix": "DeleteEventSourceMapping"}, {"prefix": "UpdateEventSourceMapping"}],
                "responseElements": {"functionArn": function_names(&r.functions)}
            },
            "examples": {
                "match": [
                    {"eventSource": "lambda.amazonaws.com", "eventName": "DeleteEventSourceMapping20150331",
                     "requestParameters": {"uUID": "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE"},
                     "responseElements": {"functionArn": arn, "state": "Deleting"}}
                ],
                "no_match": [
                    {"eventSource": "lambda.amazonaws.com", "eventName": "DeleteEventSourceMapping20150331",
                     "responseElements": {"functionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{other}")}}
                ]
            }
        }));
    }

    if let Some(first) = r.roles.first() {
        let n = sample(first);
        let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
        let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:Publish","Resource":"*"}]}"#;
        list.push(json!({
            "id": ROLE,
            "title": "trailwarden's IAM role changed",
            "severity": "critical",
            "description": "One of the roles trailwarden's functions run as was deleted, lost \
                a policy, had a policy or permissions boundary attached, or had its trust policy \
                replaced: the function can no longer act, or no longer start.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["iam.amazonaws.com"],
                "eventName": ["DeleteRole", "DetachRolePolicy", "DeleteRolePolicy", "AttachRolePolicy",
                              "UpdateAssumeRolePolicy", "PutRolePermissionsBoundary"],
                "requestParameters": {"roleName": names(&r.roles)}
            },
            "examples": {
                "match": [
                    record("iam.amazonaws.com", "DeleteRolePolicy", json!({"roleName": n, "policyName": "p"})),
                    record("iam.amazonaws.com", "AttachRolePolicy",
                        json!({"roleName": n, "policyArn": "arn:aws:iam::aws:policy/AWSDenyAll"}))
                ],
                "no_match": [
                    record("iam.amazonaws.com", "DeleteRole", json!({"roleName": other})),
                    record("iam.amazonaws.com", "GetRole", json!({"roleName": n}))
                ]
            }
        }));
        list.push(json!({
            "id": ROLE_DENY,
            "title": "Deny policy put on trailwarden's IAM role",
            "severity": "critical",
            "description": "An inline policy with a Deny statement was written to one of the \
                roles trailwarden's functions run as: the actions it denies fail from now on.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["iam.amazonaws.com"],
                "eventName": ["PutRolePolicy"],
                "requestParameters": {
                    "roleName": names(&r.roles),
                    "policyDocument": [{"json": {"Statement": {"Effect": ["Deny"]}}}]
                }
            },
            "examples": {
                "match": [record("iam.amazonaws.com", "PutRolePolicy",
                    json!({"roleName": n, "policyName": "x", "policyDocument": deny}))],
                "no_match": [record("iam.amazonaws.com", "PutRolePolicy",
                    json!({"roleName": n, "policyName": "x", "policyDocument": allow}))]
            }
        }));
        list.push(json!({
            "id": ROLE_POLICY,
            "title": "Inline policy of trailwarden's IAM role replaced",
            "severity": "high",
            "description": "An inline policy of one of the roles trailwarden's functions run \
                as was written: a policy replaced with a narrower one silently takes away what \
                the function needs.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["iam.amazonaws.com"],
                "eventName": ["PutRolePolicy"],
                "requestParameters": {"roleName": names(&r.roles)}
            },
            "examples": {
                "match": [record("iam.amazonaws.com", "PutRolePolicy",
                    json!({"roleName": n, "policyName": "x", "policyDocument": allow}))],
                "no_match": [record("iam.amazonaws.com", "PutRolePolicy",
                    json!({"roleName": other, "policyName": "x", "policyDocument": deny}))]
            }
        }));
    }

    if let Some(first) = r.topics.first() {
        let t = sample(first);
        let subscriptions: Vec<Value> = r
            .topics
            .iter()
            .map(|t| json!({ "wildcard": format!("{t}:*") }))
            .collect();
        list.push(json!({
            "id": TOPIC,
            "title": "trailwarden's alert topic changed",
            "severity": "critical",
            "description": "trailwarden's SNS alert topic was deleted, had its policy, \
                encryption or data protection policy changed, or lost a subscriber (or a \
                subscriber's filter changed): alerts stop reaching people.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["sns.amazonaws.com"],
                "$or": [
                    {"eventName": ["DeleteTopic", "SetTopicAttributes", "RemovePermission"],
                     "requestParameters": {"topicArn": names(&r.topics)}},
                    {"eventName": ["Unsubscribe", "SetSubscriptionAttributes"],
                     "requestParameters": {"subscriptionArn": subscriptions}},
                    // A data protection policy can deny every Publish (a custom identifier
                    // with a Deny operation on inbound messages).
                    {"eventName": ["PutDataProtectionPolicy"],
                     "requestParameters": {"resourceArn": names(&r.topics)}}
                ]
            },
            "examples": {
                "match": [
                    record("sns.amazonaws.com", "DeleteTopic", json!({"topicArn": t})),
                    record("sns.amazonaws.com", "Unsubscribe",
                        json!({"subscriptionArn": format!("{t}:0b6941c8-3a1f-4c8e-9b2d-5e7f8a9b0c1d")})),
                    record("sns.amazonaws.com", "PutDataProtectionPolicy",
                        json!({"resourceArn": t, "dataProtectionPolicy": "{\"Name\":\"deny-all\",\"Version\":\"2021-06-01\",\"Statement\":[{\"DataDirection\":\"Inbound\",\"Principal\":[\"*\"],\"DataIdentifier\":[\"arn:aws:dataprotection::aws:data-identifier/EmailAddress\"],\"Operation\":{\"Deny\":{}}}]}"}))
                ],
                "no_match": [
                    record("sns.amazonaws.com", "DeleteTopic",
                        json!({"topicArn": format!("arn:aws:sns:us-east-1:123456789012:{other}")})),
                    record("sns.amazonaws.com", "Publish", json!({"topicArn": t}))
                ]
            }
        }));
    }

    if let Some(first) = r.queues.first() {
        let q = sample(first);
        let urls: Vec<Value> = r
            .queues
            .iter()
            .map(|q| json!({ "wildcard": format!("*/{q}") }))
            .collect();
        list.push(json!({
            "id": QUEUE,
            "title": "trailwarden's failed-events queue changed",
            "severity": "critical",
            "description": "The queue holding the events trailwarden could not handle was \
                deleted, purged or had its attributes or policy changed: the evidence of what \
                went unhandled is gone, or EventBridge can no longer deliver to it.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_INDICATOR_REMOVAL]},
            "pattern": {
                "eventSource": ["sqs.amazonaws.com"],
                "eventName": ["DeleteQueue", "PurgeQueue", "SetQueueAttributes", "RemovePermission"],
                "requestParameters": {"queueUrl": urls}
            },
            "examples": {
                "match": [record("sqs.amazonaws.com", "PurgeQueue",
                    json!({"queueUrl": format!("https://sqs.us-east-1.amazonaws.com/123456789012/{q}")}))],
                "no_match": [record("sqs.amazonaws.com", "PurgeQueue",
                    json!({"queueUrl": format!("https://sqs.us-east-1.amazonaws.com/123456789012/{other}")}))]
            }
        }));
    }

    if let Some(first) = r.roles.first() {
        let role = sample(first);
        let arns: Vec<Value> = r.roles.iter().flat_map(|n| iam_arns("role", n)).collect();
        list.push(json!({
            "id": ROLE_PASSED,
            "title": "trailwarden's role given to a Lambda function",
            "severity": "critical",
            "description": "A Lambda function was created, or reconfigured, to run as one of \
                trailwarden's function roles. What such a function does is recorded under \
                trailwarden's role, which trailwarden never alerts on (its own remediations \
                are not findings): a function that is not one of the stack's own acts unseen \
                with the role's rights (writing user policies, reactivating keys, revoking \
                rules).",
            "runbook": "Unless this is a deployment of trailwarden's stack, delete the \
                function (requestParameters.functionName), then review what it did (CloudTrail: \
                the role's sessions named after that function) and who may pass trailwarden's \
                roles (iam:PassRole).",
            "references": {"mitre_attack": [T_DISABLE_TOOLS, "T1098"]},
            "pattern": {
                "eventSource": ["lambda.amazonaws.com"],
                "eventName": [{"prefix": "CreateFunction"}, {"prefix": "UpdateFunctionConfiguration"}],
                "requestParameters": {"role": arns}
            },
            "examples": {
                "match": [
                    record("lambda.amazonaws.com", "CreateFunction20150331", json!({
                        "functionName": "helper",
                        "role": format!("arn:aws:iam::123456789012:role/{role}"),
                        "runtime": "python3.12",
                        "handler": "index.handler"
                    }))
                ],
                "no_match": [
                    record("lambda.amazonaws.com", "CreateFunction20150331", json!({
                        "functionName": "helper",
                        "role": format!("arn:aws:iam::123456789012:role/{other}"),
                        "runtime": "python3.12",
                        "handler": "index.handler"
                    }))
                ]
            }
        }));
    }

    if let Some(first) = r.roles.first() {
        let role = sample(first);
        let paths: Vec<Value> = r
            .roles
            .iter()
            .map(|n| json!({ "wildcard": format!("/{n}") }))
            .collect();
        list.push(json!({
            "id": ROLE_LOOKALIKE,
            "title": "Role named like trailwarden's created",
            "severity": "critical",
            "description": "An IAM role was created with a name (or a path) like those of \
                trailwarden's function roles. Member accounts' responder roles, and the log \
                archive, trust the tooling account's roles by that name: whoever can assume \
                such a role can act in every member account as trailwarden, and trailwarden \
                takes the responder's calls for its own. Only trailwarden's stack should create \
                roles so named.",
            "runbook": "Unless this is a deployment of trailwarden's stack, delete the role \
                (requestParameters.roleName) and find out who created it and whether it was \
                assumed (CloudTrail: AssumeRole of the member accounts' responder role by it). \
                An SCP denying iam:CreateRole on role/<stack>-* to everyone but the deploying \
                role closes this for good.",
            "references": {"mitre_attack": [T_DISABLE_TOOLS, "T1098.003"]},
            "pattern": {
                "eventSource": ["iam.amazonaws.com"],
                "eventName": ["CreateRole"],
                "$or": [
                    {"requestParameters": {"roleName": names(&r.roles)}},
                    {"requestParameters": {"path": paths}}
                ]
            },
            "examples": {
                "match": [
                    record("iam.amazonaws.com", "CreateRole", json!({"roleName": role, "path": "/"})),
                    record("iam.amazonaws.com", "CreateRole",
                        json!({"roleName": "helper", "path": format!("/{role}/")}))
                ],
                "no_match": [
                    record("iam.amazonaws.com", "CreateRole", json!({"roleName": other, "path": "/"})),
                    record("iam.amazonaws.com", "GetRole", json!({"roleName": role}))
                ]
            }
        }));
    }

    if let Some(first) = r.secrets.first() {
        let arn = sample(first);
        list.push(json!({
            "id": SECRET,
            "title": "Secret of an alert destination changed",
            "severity": "high",
            "description": "A secret trailwarden's alert destinations read (PagerDuty's \
                routing key, the webhook's signing secret) was rewritten, deleted, rotated or \
                given a new policy. A new PagerDuty key sends every page to someone else's \
                service (which answers as PagerDuty does, so deliveries still count as sent); \
                a new signing secret makes receivers reject every alert.",
            "runbook": "Unless your team changed it, put the right value back (the old \
                version is kept as AWSPREVIOUS), find out who changed it, and check what the \
                destination received in the meantime.",
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["secretsmanager.amazonaws.com"],
                "eventName": ["PutSecretValue", "UpdateSecret", "DeleteSecret", "RotateSecret",
                              "UpdateSecretVersionStage", "PutResourcePolicy",
                              "DeleteResourcePolicy", "CancelRotateSecret"],
                "requestParameters": {"secretId": secret_names(&r.secrets)}
            },
            "examples": {
                "match": [
                    record("secretsmanager.amazonaws.com", "PutSecretValue", json!({"secretId": arn})),
                    record("secretsmanager.amazonaws.com", "UpdateSecret",
                        json!({"secretId": arn.split(":secret:").nth(1).and_then(|n| n.rsplit_once('-')).map(|(n, _)| n).unwrap_or(&arn)}))
                ],
                "no_match": [
                    record("secretsmanager.amazonaws.com", "PutSecretValue", json!({"secretId": other})),
                    record("secretsmanager.amazonaws.com", "GetSecretValue", json!({"secretId": arn}))
                ]
            }
        }));
    }

    if let Some(first) = r.tables.first() {
        let n = sample(first);
        let arn = format!("arn:aws:dynamodb:us-east-1:123456789012:table/{n}");
        let other_arn = format!("arn:aws:dynamodb:us-east-1:123456789012:table/{other}");
        let tables = table_names(&r.tables);
        list.push(json!({
            "id": TABLE,
            "title": "trailwarden's state table or its resource policy changed",
            "severity": "high",
            "description": "The DynamoDB table where trailwarden keeps its state (incidents \
                already alerted, events and log files already handled, threshold counters) \
                had its resource policy replaced or removed, or was deleted, recreated, or \
                reconfigured. That policy is what keeps everyone but trailwarden's own \
                functions from writing items: without it, anyone allowed to write DynamoDB \
                items can claim the incident of an attack before carrying it out, and \
                trailwarden then takes the attack as already alerted and stays silent. \
                CloudTrail does not record those item writes unless DynamoDB data events are \
                on.",
            "runbook": "Unless your team changed it on purpose, put the stack's policy back \
                at once: a stack update restores a policy removed or replaced outside \
                CloudFormation only when the template's policy itself changes, so apply it \
                directly (aws dynamodb put-resource-policy --resource-arn <the StateTable \
                ARN> with the StateTable ResourcePolicy of template.yaml, stack name and \
                account filled in). Find out who made the call and treat that principal as \
                compromised. Alerts may have been suppressed while the policy was off: re-scan \
                that period's log files with trailwarden scan (it keeps its state in memory, \
                so nothing a claim in the table says is taken into account).",
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["dynamodb.amazonaws.com"],
                "$or": [
                    {"eventName": ["PutResourcePolicy", "DeleteResourcePolicy"],
                     "requestParameters": {"resourceArn": table_arns(&r.tables)}},
                    {"eventName": ["DeleteTable", "UpdateTable", "UpdateTimeToLive", "CreateTable"],
                     "requestParameters": {"tableName": tables.clone()}},
                    // A table made again under the state table's name, after a DeleteTable,
                    // has no resource policy (and a restored or imported one, chosen items).
                    {"eventName": ["RestoreTableFromBackup", "RestoreTableToPointInTime"],
                     "requestParameters": {"targetTableName": tables.clone()}},
                    {"eventName": ["ImportTable"],
                     "requestParameters": {"tableCreationParameters": {"tableName": tables}}}
                ]
            },
            "examples": {
                "match": [
                    record("dynamodb.amazonaws.com", "PutResourcePolicy", json!({
                        "resourceArn": arn,
                        "policy": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:root\"},\"Action\":\"dynamodb:*\",\"Resource\":\"*\"}]}"
                    })),
                    record("dynamodb.amazonaws.com", "DeleteResourcePolicy", json!({"resourceArn": arn})),
                    record("dynamodb.amazonaws.com", "DeleteTable", json!({"tableName": n})),
                    record("dynamodb.amazonaws.com", "UpdateTimeToLive", json!({
                        "tableName": arn,
                        "timeToLiveSpecification": {"attributeName": "expires_at", "enabled": false}
                    }))
                ],
                "no_match": [
                    record("dynamodb.amazonaws.com", "DeleteResourcePolicy", json!({"resourceArn": other_arn})),
                    record("dynamodb.amazonaws.com", "DeleteTable", json!({"tableName": other})),
                    record("dynamodb.amazonaws.com", "GetResourcePolicy", json!({"resourceArn": arn})),
                    record("dynamodb.amazonaws.com", "DescribeTable", json!({"tableName": n}))
                ]
            }
        }));
    }

    if let Some(first) = r.policies.first() {
        let p = sample(first);
        let arns: Vec<Value> = r
            .policies
            .iter()
            .flat_map(|p| iam_arns("policy", p))
            .collect();
        list.push(json!({
            "id": POLICY,
            "title": "trailwarden's managed policy rewritten or deleted",
            "severity": "critical",
            "description": "A managed policy attached to trailwarden's function roles got a new \
                default version, had another version made the default, or was deleted. The \
                call names only the policy, not the roles: a new version that denies \
                everything silences every function using it, the alert topic included.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["iam.amazonaws.com"],
                "eventName": ["CreatePolicyVersion", "SetDefaultPolicyVersion", "DeletePolicy"],
                "requestParameters": {"policyArn": arns}
            },
            "examples": {
                "match": [
                    record("iam.amazonaws.com", "CreatePolicyVersion", json!({
                        "policyArn": format!("arn:aws:iam::123456789012:policy/{p}"),
                        "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}]}",
                        "setAsDefault": true
                    }))
                ],
                "no_match": [
                    record("iam.amazonaws.com", "CreatePolicyVersion", json!({
                        "policyArn": format!("arn:aws:iam::123456789012:policy/{other}"),
                        "setAsDefault": true
                    }))
                ]
            }
        }));
    }

    if let Some(first) = r.alarms.first() {
        let a = sample(first);
        list.push(json!({
            "id": ALARM,
            "title": "trailwarden's alarm disabled, deleted or changed",
            "severity": "high",
            "description": "One of trailwarden's CloudWatch alarms (its functions' errors, the \
                failed-events queue, the CIS metric filters) had its actions disabled, was \
                deleted or was redefined: what it watches (a function failing or deleted, \
                events left unhandled) no longer reaches anyone. Disabling them first is how \
                someone removes trailwarden quietly.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["monitoring.amazonaws.com"],
                "$or": [
                    {"eventName": ["DisableAlarmActions", "DeleteAlarms"],
                     "requestParameters": {"alarmNames": names(&r.alarms)}},
                    {"eventName": ["PutMetricAlarm"],
                     "requestParameters": {"alarmName": names(&r.alarms)}}
                ]
            },
            "examples": {
                "match": [
                    record("monitoring.amazonaws.com", "DisableAlarmActions",
                        json!({"alarmNames": ["unrelated-alarm", a]})),
                    record("monitoring.amazonaws.com", "PutMetricAlarm",
                        json!({"alarmName": a, "actionsEnabled": false}))
                ],
                "no_match": [
                    record("monitoring.amazonaws.com", "DeleteAlarms",
                        json!({"alarmNames": [format!("{other}-errors")]})),
                    record("monitoring.amazonaws.com", "DescribeAlarms",
                        json!({"alarmNames": [a]}))
                ]
            }
        }));
    }

    if let Some(first) = r.buckets.first() {
        let b = sample(first);
        list.push(json!({
            "id": BUCKET,
            "title": "trailwarden's trail bucket reconfigured",
            "severity": "critical",
            "description": "The bucket CloudTrail delivers to had its event notifications, \
                policy, lifecycle, versioning or encryption changed, or was deleted: log files \
                may no longer reach trailwarden (notifications), no longer be written \
                (policy, encryption) or be removed (lifecycle, versioning).",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_CLOUD_LOGS]},
            "pattern": {
                "eventSource": ["s3.amazonaws.com"],
                "eventName": ["PutBucketNotification", "PutBucketPolicy", "DeleteBucketPolicy",
                              "PutBucketLifecycle", "DeleteBucketLifecycle", "PutBucketVersioning",
                              "PutBucketEncryption", "DeleteBucket"],
                "requestParameters": {"bucketName": names(&r.buckets)}
            },
            "examples": {
                "match": [
                    record("s3.amazonaws.com", "PutBucketNotification", json!({"bucketName": b,
                        "NotificationConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"},
                        "notification": ""})),
                    record("s3.amazonaws.com", "DeleteBucketPolicy", json!({"bucketName": b, "policy": ""}))
                ],
                "no_match": [
                    record("s3.amazonaws.com", "PutBucketPolicy", json!({"bucketName": other})),
                    record("s3.amazonaws.com", "GetBucketPolicy", json!({"bucketName": b}))
                ]
            }
        }));
    }

    if let Some(first) = trails.first() {
        let n = first.name.clone();
        list.push(json!({
            "id": TRAIL,
            "title": "trailwarden's trail stopped or changed",
            "severity": "critical",
            "description": "The trail trailwarden watches was stopped, deleted, pointed \
                elsewhere or had its event or Insights selectors changed: API calls from then \
                on are not recorded, or not where trailwarden reads them.",
            "runbook": "Check the trail now (aws cloudtrail get-trail-status); turn logging \
                back on (StartLogging) or restore the trail's settings by redeploying the \
                stack, then find out who did it and treat that principal as compromised. \
                Whatever happened while logging was off is not in the trail: look at other \
                sources (service logs, Config, GuardDuty) for that period.",
            "references": {"mitre_attack": [T_CLOUD_LOGS]},
            "pattern": {
                "eventSource": ["cloudtrail.amazonaws.com"],
                "$or": [
                    {"eventName": ["StopLogging", "DeleteTrail", "UpdateTrail"],
                     "requestParameters": {"name": trail_names(trails)}},
                    {"eventName": ["PutEventSelectors", "PutInsightSelectors"],
                     "requestParameters": {"trailName": trail_names(trails)}}
                ]
            },
            "examples": {
                "match": [
                    record("cloudtrail.amazonaws.com", "StopLogging",
                        json!({"name": format!("arn:aws:cloudtrail:us-east-1:123456789012:trail/{n}")})),
                    record("cloudtrail.amazonaws.com", "PutEventSelectors",
                        json!({"trailName": n, "eventSelectors": [{"readWriteType": "ReadOnly"}]}))
                ],
                "no_match": [
                    record("cloudtrail.amazonaws.com", "StopLogging", json!({"name": other})),
                    record("cloudtrail.amazonaws.com", "StartLogging", json!({"name": n}))
                ]
            }
        }));
    }

    if let Some(first) = r.keys.first() {
        let k = sample(first);
        list.push(json!({
            "id": KEY,
            "title": "trailwarden's KMS key disabled or changed",
            "severity": "critical",
            "description": "The KMS key that encrypts trailwarden's alert topic was disabled, \
                scheduled for deletion or had its policy replaced: alerts can no longer be \
                published (the functions' and CloudWatch alarms' Publish calls fail).",
            "runbook": "Cancel a scheduled deletion (aws kms cancel-key-deletion) and enable \
                the key again, or redeploy the stack to restore its policy; then find out who \
                did it and treat that principal as compromised.",
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["kms.amazonaws.com"],
                "eventName": ["DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy"],
                "requestParameters": {"keyId": key_names(&r.keys)}
            },
            "examples": {
                "match": [record("kms.amazonaws.com", "ScheduleKeyDeletion",
                    json!({"keyId": k, "pendingWindowInDays": 7}))],
                "no_match": [record("kms.amazonaws.com", "DisableKey", json!({"keyId": other}))]
            }
        }));
    }

    if let Some(first) = r.stacks.first() {
        let s = sample(first);
        list.push(json!({
            "id": STACK_DELETED,
            "title": "trailwarden's stack deleted",
            "severity": "critical",
            "description": "Deletion of the CloudFormation stack that is trailwarden was \
                requested: every function, rule and alarm goes with it.",
            "runbook": runbook_common,
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["cloudformation.amazonaws.com"],
                "eventName": ["DeleteStack"],
                "requestParameters": {"stackName": names(&r.stacks)}
            },
            "examples": {
                "match": [record("cloudformation.amazonaws.com", "DeleteStack", json!({"stackName": s}))],
                "no_match": [record("cloudformation.amazonaws.com", "DeleteStack", json!({"stackName": other}))]
            }
        }));
        list.push(json!({
            "id": STACK_UPDATED,
            "title": "trailwarden's stack updated",
            "severity": "high",
            "description": "trailwarden's CloudFormation stack was updated (its parameters, \
                such as DryRun or the response modes, may have changed), or its stack policy \
                or termination protection changed. Expected when you deploy; otherwise someone \
                is reconfiguring trailwarden.",
            "runbook": "If nobody deployed trailwarden just now, look at the stack's events \
                and parameters (aws cloudformation describe-stacks) and at who made the call; \
                revert by deploying your known configuration.",
            "references": {"mitre_attack": [T_DISABLE_TOOLS]},
            "pattern": {
                "eventSource": ["cloudformation.amazonaws.com"],
                // CreateChangeSet names the stack; an ExecuteChangeSet given the change set's
                // ARN does not.
                "eventName": ["UpdateStack", "CreateChangeSet", "ExecuteChangeSet", "UpdateTerminationProtection", "SetStackPolicy"],
                "requestParameters": {"stackName": names(&r.stacks)}
            },
            "examples": {
                "match": [record("cloudformation.amazonaws.com", "UpdateStack", json!({"stackName": s}))],
                "no_match": [record("cloudformation.amazonaws.com", "DescribeStacks", json!({"stackName": s}))]
            }
        }));
    }

    json!({
        "family": FAMILY,
        "description": "Changes to trailwarden's own resources: its rules, functions, roles, \
            alert topic and key, alert destinations' secrets, state table, failed-events queue, \
            alarms, trail bucket, trail and stack.",
        "detections": list,
    })
}

/// The `self` family compiled (empty when nothing is configured).
pub fn catalog(r: &SelfResources, trails: &[TrailRef]) -> Result<Catalog, CatalogError> {
    let text = detections(r, trails).to_string();
    Catalog::from_json(&text, SELF_RESOURCES)
}
