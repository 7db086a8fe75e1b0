//! Tolerant CloudTrail event model.
//!
//! Real CloudTrail records omit fields freely (ConsoleLogin has no `requestID`, service events
//! have no `userIdentity.type`, failed sign-ins hide the user name, `requestParameters` is often
//! `null`). Every field here is therefore optional; a missing field is `None`, never a failed
//! invocation. `requestParameters`, `responseElements` and `additionalEventData` are kept as raw
//! JSON values until a function asks for something in them.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `detail-type` of an API call delivered by EventBridge.
pub const DETAIL_TYPE_API_CALL: &str = "AWS API Call via CloudTrail";
/// `detail-type` of a console sign-in delivered by EventBridge.
pub const DETAIL_TYPE_SIGN_IN: &str = "AWS Console Sign In via CloudTrail";
/// `detail-type` of an AWS service event delivered by EventBridge.
pub const DETAIL_TYPE_SERVICE_EVENT: &str = "AWS Service Event via CloudTrail";

/// One CloudTrail record: the `detail` of an EventBridge event, or one entry of a log file's
/// `Records` array.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Record {
    pub event_version: Option<String>,
    pub user_identity: Option<UserIdentity>,
    pub event_time: Option<String>,
    pub event_source: Option<String>,
    pub event_name: Option<String>,
    pub aws_region: Option<String>,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    pub additional_event_data: Option<Value>,
    #[serde(rename = "requestID")]
    pub request_id: Option<String>,
    #[serde(rename = "eventID")]
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    #[serde(deserialize_with = "lenient_bool")]
    pub read_only: Option<bool>,
    pub recipient_account_id: Option<String>,
    pub event_category: Option<String>,
    #[serde(deserialize_with = "lenient_bool")]
    pub management_event: Option<bool>,
    /// `sharedEventID`: the same value on the `Start` and `End` records of one CloudTrail
    /// Insights event (and on both sides of a cross-account call).
    #[serde(rename = "sharedEventID", skip_serializing_if = "Option::is_none")]
    pub shared_event_id: Option<String>,
    /// `insightDetails` of a CloudTrail Insights record (state, API, insight type, statistics,
    /// attributions), kept as raw JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insight_details: Option<Value>,
}

/// `userIdentity` of a record. Service events may carry only `accountId` and `invokedBy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(rename = "type")]
    pub identity_type: Option<String>,
    pub principal_id: Option<String>,
    pub arn: Option<String>,
    pub account_id: Option<String>,
    pub access_key_id: Option<String>,
    pub user_name: Option<String>,
    pub invoked_by: Option<String>,
    pub session_context: Option<SessionContext>,
    pub identity_provider: Option<String>,
    /// `assumedRoot`: `"true"` on a member account's root session obtained with
    /// `sts:AssumeRoot` (centralized root access). Read it through
    /// [`UserIdentity::assumed_root`], which also looks in `sessionContext`.
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub assumed_root: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionContext {
    pub session_issuer: Option<SessionIssuer>,
    pub attributes: Option<SessionAttributes>,
    pub source_identity: Option<String>,
    /// `sessionContext.assumedRoot` (see [`UserIdentity::assumed_root`]).
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub assumed_root: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(rename = "type")]
    pub issuer_type: Option<String>,
    pub principal_id: Option<String>,
    pub arn: Option<String>,
    pub account_id: Option<String>,
    pub user_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionAttributes {
    /// Usually ISO 8601, but older records use other forms: kept as text.
    pub creation_date: Option<String>,
    /// The string `"true"`/`"false"` in real records; a JSON bool is accepted too.
    #[serde(deserialize_with = "lenient_bool")]
    pub mfa_authenticated: Option<bool>,
}

/// Accepts `true`, `"true"`, `"TRUE"`, `false`, `"false"`, `null`; anything else is `None`
/// rather than a failed invocation (the field is informational).
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    })
}

/// Who made a call, classified from `userIdentity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// The account's root user.
    Root { account_id: Option<String> },
    /// An IAM user (long-term credentials or console password).
    IamUser {
        arn: Option<String>,
        user_name: Option<String>,
    },
    /// A role session. `role_arn` is the role (`arn:aws:iam::…:role/…`), whatever the
    /// session name.
    AssumedRole {
        arn: Option<String>,
        role_arn: Option<String>,
        session_name: Option<String>,
    },
    /// A session of an IAM Identity Center permission set (`AWSReservedSSO_…` role).
    IdentityCenterRole {
        arn: Option<String>,
        role_arn: Option<String>,
        session_name: Option<String>,
    },
    /// An IAM Identity Center user acting in the access portal (`IdentityCenterUser`).
    IdentityCenterUser { user_name: Option<String> },
    /// A federated user (`GetFederationToken`).
    FederatedUser { arn: Option<String> },
    /// SAML or web-identity federation (`SAMLUser`, `WebIdentityUser`).
    Federated {
        identity_type: String,
        user_name: Option<String>,
    },
    /// An AWS service acting on the account (`AWSService`, or `invokedBy` without a type).
    AwsService { service: Option<String> },
    /// Another AWS account.
    AwsAccount { account_id: Option<String> },
    /// Anything else, including records with no `userIdentity` at all.
    Unknown { identity_type: Option<String> },
}

impl Principal {
    /// A short, human-readable name: the ARN when known, else the best identifier there is.
    pub fn display(&self) -> String {
        let or = |a: &Option<String>, b: &str| a.clone().unwrap_or_else(|| b.to_string());
        match self {
            Principal::Root { account_id } => match account_id {
                Some(a) => format!("root user of {a}"),
                None => "root user".into(),
            },
            Principal::IamUser { arn, user_name } => arn
                .clone()
                .or_else(|| user_name.as_ref().map(|u| format!("IAM user {u}")))
                .unwrap_or_else(|| "IAM user (unnamed)".into()),
            Principal::AssumedRole { arn, role_arn, .. }
            | Principal::IdentityCenterRole { arn, role_arn, .. } => arn
                .clone()
                .or_else(|| role_arn.clone())
                .unwrap_or_else(|| "role session (unnamed)".into()),
            Principal::IdentityCenterUser { user_name } => {
                format!("Identity Center user {}", or(user_name, "(unnamed)"))
            }
            Principal::FederatedUser { arn } => or(arn, "federated user"),
            Principal::Federated {
                identity_type,
                user_name,
            } => format!("{identity_type} {}", or(user_name, "(unnamed)")),
            Principal::AwsService { service } => or(service, "AWS service"),
            Principal::AwsAccount { account_id } => {
                format!("AWS account {}", or(account_id, "(unknown)"))
            }
            Principal::Unknown { identity_type } => {
                format!("unknown principal ({})", or(identity_type, "no type"))
            }
        }
    }

    /// The ARN that approval lists match against: the role ARN for role sessions (so a
    /// session name never matters), the principal ARN otherwise.
    pub fn match_arn(&self) -> Option<&str> {
        match self {
            Principal::AssumedRole { role_arn, arn, .. }
            | Principal::IdentityCenterRole { role_arn, arn, .. } => {
                role_arn.as_deref().or(arn.as_deref())
            }
            Principal::IamUser { arn, .. } | Principal::FederatedUser { arn } => arn.as_deref(),
            _ => None,
        }
    }

    /// The kind as CloudTrail would spell it, for alerts and grouping.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Root { .. } => "Root",
            Principal::IamUser { .. } => "IAMUser",
            Principal::AssumedRole { .. } => "AssumedRole",
            Principal::IdentityCenterRole { .. } => "IdentityCenterRole",
            Principal::IdentityCenterUser { .. } => "IdentityCenterUser",
            Principal::FederatedUser { .. } => "FederatedUser",
            Principal::Federated { .. } => "Federated",
            Principal::AwsService { .. } => "AWSService",
            Principal::AwsAccount { .. } => "AWSAccount",
            Principal::Unknown { .. } => "Unknown",
        }
    }
}

/// Turns `arn:aws:sts::123:assumed-role/Name/session` into (`arn:aws:iam::123:role/Name`,
/// `session`). The role's path is not in a session ARN; `sessionIssuer.arn` has it and is
/// preferred when present.
pub fn role_arn_from_session_arn(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.splitn(6, ':');
    let (_, partition, service, _, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if service != "sts" {
        return None;
    }
    let rest = resource.strip_prefix("assumed-role/")?;
    let (role, session) = rest.rsplit_once('/')?;
    Some((
        format!("arn:{partition}:iam::{account}:role/{role}"),
        session.to_string(),
    ))
}

/// The role name [`role_arn_from_session_arn`] reads from a session ARN (the last segment of
/// the role part: `arn:aws:sts::123:assumed-role/Name/session` gives `Name`), without copying.
fn session_role_name(arn: &str) -> Option<&str> {
    let mut colons = [0usize; 5];
    let mut n = 0;
    for (i, b) in arn.bytes().enumerate() {
        if b == b':' {
            colons[n] = i;
            n += 1;
            if n == colons.len() {
                break;
            }
        }
    }
    if n < colons.len() || &arn[colons[1] + 1..colons[2]] != "sts" {
        return None;
    }
    let rest = arn[colons[4] + 1..].strip_prefix("assumed-role/")?;
    let (role, _) = rest.rsplit_once('/')?;
    role.rsplit('/').next()
}

/// The fields of `userIdentity` that say who called: what [`Principal`] is made from, borrowed
/// from a [`UserIdentity`] or straight from a record's text ([`CallerRef`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Caller<'a> {
    pub identity_type: Option<&'a str>,
    pub principal_id: Option<&'a str>,
    pub arn: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub user_name: Option<&'a str>,
    pub invoked_by: Option<&'a str>,
    /// `sessionContext.sessionIssuer.arn`.
    pub issuer_arn: Option<&'a str>,
}

impl Caller<'_> {
    /// What [`Caller::principal`] gives as `(display(), kind())`, without building the
    /// principal for role sessions (the log scan names the caller of every matching record).
    pub fn display_and_kind(&self) -> (String, &'static str) {
        match self.identity_type {
            Some("AssumedRole") => {
                let role_name = match self.issuer_arn {
                    Some(role_arn) => role_arn.rsplit('/').next(),
                    None => self.arn.and_then(session_role_name),
                };
                let kind = if role_name.is_some_and(|r| r.starts_with("AWSReservedSSO_")) {
                    "IdentityCenterRole"
                } else {
                    "AssumedRole"
                };
                let display = self
                    .arn
                    .or(self.issuer_arn)
                    .map_or_else(|| "role session (unnamed)".to_string(), str::to_string);
                (display, kind)
            }
            Some("IAMUser") if self.arn.is_some() => {
                (self.arn.unwrap_or_default().to_string(), "IAMUser")
            }
            _ => {
                let p = self.principal();
                (p.display(), p.kind())
            }
        }
    }

    /// Who called, by the identity's type.
    pub fn principal(&self) -> Principal {
        let own = |v: Option<&str>| v.map(str::to_string);
        match self.identity_type {
            Some("Root") => Principal::Root {
                account_id: own(self.account_id),
            },
            Some("IAMUser") => Principal::IamUser {
                arn: own(self.arn),
                user_name: own(self.user_name),
            },
            Some("AssumedRole") => {
                let from_arn = self.arn.and_then(role_arn_from_session_arn);
                let role_arn =
                    own(self.issuer_arn).or_else(|| from_arn.as_ref().map(|(r, _)| r.clone()));
                let session_name = from_arn.map(|(_, s)| s);
                let role_name = role_arn
                    .as_deref()
                    .and_then(|r| r.rsplit('/').next())
                    .unwrap_or("");
                if role_name.starts_with("AWSReservedSSO_") {
                    Principal::IdentityCenterRole {
                        arn: own(self.arn),
                        role_arn,
                        session_name,
                    }
                } else {
                    Principal::AssumedRole {
                        arn: own(self.arn),
                        role_arn,
                        session_name,
                    }
                }
            }
            Some("IdentityCenterUser") => Principal::IdentityCenterUser {
                user_name: own(self.user_name.or(self.principal_id)),
            },
            Some("FederatedUser") => Principal::FederatedUser { arn: own(self.arn) },
            Some(t @ ("SAMLUser" | "WebIdentityUser")) => Principal::Federated {
                identity_type: t.to_string(),
                user_name: own(self.user_name),
            },
            Some("AWSService") => Principal::AwsService {
                service: own(self.invoked_by),
            },
            Some("AWSAccount") => Principal::AwsAccount {
                account_id: own(self.account_id),
            },
            None if self.invoked_by.is_some() => Principal::AwsService {
                service: own(self.invoked_by),
            },
            other => Principal::Unknown {
                identity_type: other.map(str::to_string),
            },
        }
    }
}

/// [`Caller`]'s fields read from a `userIdentity` object's text without copying its strings
/// (the log scan reads this for every matching record). As for [`UserIdentity`], other keys
/// are skipped and a repeated key or a value of the wrong type fails the read; so does a
/// string with escapes, which cannot be borrowed: parse a [`UserIdentity`] then.
#[derive(Debug, Default)]
pub struct CallerRef<'a>(Caller<'a>);

impl<'a> CallerRef<'a> {
    /// The caller's fields.
    pub fn caller(&self) -> Caller<'a> {
        self.0
    }
}

/// The session issuer's ARN, the one field of `sessionContext` a [`Caller`] reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SessionRef<'a> {
    #[serde(borrow)]
    session_issuer: Option<IssuerRef<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IssuerRef<'a> {
    #[serde(borrow)]
    arn: Option<&'a str>,
}

impl<'de: 'a, 'a> Deserialize<'de> for CallerRef<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, IgnoredAny, MapAccess, Visitor};
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = CallerRef<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a userIdentity object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<CallerRef<'de>, A::Error> {
                let mut c = Caller::default();
                let mut seen = std::collections::BTreeSet::new();
                while let Some(key) = m.next_key::<&'de str>()? {
                    let slot = match key {
                        "type" => &mut c.identity_type,
                        "principalId" => &mut c.principal_id,
                        "arn" => &mut c.arn,
                        "accountId" => &mut c.account_id,
                        "userName" => &mut c.user_name,
                        "invokedBy" => &mut c.invoked_by,
                        "sessionContext" => &mut c.issuer_arn,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    if !seen.insert(key) {
                        return Err(A::Error::custom(format!("duplicate field `{key}`")));
                    }
                    *slot = if key == "sessionContext" {
                        let s: Option<SessionRef<'de>> = m.next_value()?;
                        s.and_then(|s| s.session_issuer).and_then(|i| i.arn)
                    } else {
                        m.next_value()?
                    };
                }
                Ok(CallerRef(c))
            }
        }
        d.deserialize_map(Fields)
    }
}

impl UserIdentity {
    /// The fields that say who called.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            identity_type: self.identity_type.as_deref(),
            principal_id: self.principal_id.as_deref(),
            arn: self.arn.as_deref(),
            account_id: self.account_id.as_deref(),
            user_name: self.user_name.as_deref(),
            invoked_by: self.invoked_by.as_deref(),
            issuer_arn: self
                .session_context
                .as_ref()
                .and_then(|c| c.session_issuer.as_ref())
                .and_then(|i| i.arn.as_deref()),
        }
    }

    /// Who called ([`Caller::principal`]).
    pub fn principal(&self) -> Principal {
        self.caller().principal()
    }

    /// True when this is a root session obtained with `sts:AssumeRoot` (centralized root
    /// access: a task session run from the management or delegated-administrator account, not
    /// someone holding the root password). The marker is accepted both directly in
    /// `userIdentity` and in `sessionContext`.
    pub fn assumed_root(&self) -> bool {
        self.assumed_root == Some(true)
            || self
                .session_context
                .as_ref()
                .is_some_and(|c| c.assumed_root == Some(true))
    }

    /// `sessionContext.attributes.mfaAuthenticated`.
    pub fn mfa_authenticated(&self) -> Option<bool> {
        self.session_context
            .as_ref()?
            .attributes
            .as_ref()?
            .mfa_authenticated
    }
}

impl Record {
    /// The classified principal; `Unknown` when the record has no `userIdentity`.
    pub fn principal(&self) -> Principal {
        match &self.user_identity {
            Some(u) => u.principal(),
            None => Principal::Unknown {
                identity_type: None,
            },
        }
    }

    /// True when the caller is a root session obtained with `sts:AssumeRoot`
    /// ([`UserIdentity::assumed_root`]).
    pub fn assumed_root(&self) -> bool {
        self.user_identity
            .as_ref()
            .is_some_and(UserIdentity::assumed_root)
    }

    /// `true` when the call failed (`errorCode` present and non-empty).
    pub fn failed(&self) -> bool {
        self.error_code.as_deref().is_some_and(|c| !c.is_empty())
    }

    pub fn event_name(&self) -> &str {
        self.event_name.as_deref().unwrap_or("")
    }

    pub fn event_source(&self) -> &str {
        self.event_source.as_deref().unwrap_or("")
    }

    /// The account the event belongs to: `recipientAccountId`, else the caller's account.
    pub fn account_id(&self) -> Option<&str> {
        self.recipient_account_id.as_deref().or_else(|| {
            self.user_identity
                .as_ref()
                .and_then(|u| u.account_id.as_deref())
        })
    }

    /// A value inside `requestParameters` by a dotted path (`ipPermissions.items`).
    pub fn request_param(&self, path: &str) -> Option<&Value> {
        lookup(self.request_parameters.as_ref()?, path)
    }

    /// A value inside `responseElements` by a dotted path.
    pub fn response_element(&self, path: &str) -> Option<&Value> {
        lookup(self.response_elements.as_ref()?, path)
    }

    /// A value inside `additionalEventData` by a dotted path.
    pub fn additional_data(&self, path: &str) -> Option<&Value> {
        lookup(self.additional_event_data.as_ref()?, path)
    }

    /// A string inside `requestParameters`.
    pub fn request_str(&self, path: &str) -> Option<&str> {
        self.request_param(path).and_then(Value::as_str)
    }

    /// Parsed `eventTime` (CloudTrail writes `2024-08-01T13:33:28Z`).
    pub fn time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        parse_time(self.event_time.as_deref()?)
    }

    /// Link to the event in the CloudTrail console (event history keeps 90 days).
    pub fn console_url(&self) -> Option<String> {
        console_url(self.event_id.as_deref(), self.aws_region.as_deref())
    }
}

/// The CloudTrail console's page for an event (see [`Record::console_url`]).
pub fn console_url(event_id: Option<&str>, region: Option<&str>) -> Option<String> {
    let id = event_id?;
    let region = region.unwrap_or("us-east-1");
    if !is_safe_token(id) || !is_safe_token(region) {
        return None;
    }
    Some(format!(
        "https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{id}"
    ))
}

fn is_safe_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Looks up a dotted path in a JSON value (a `serde_json` value or the scanner's borrowed
/// one); numeric segments index arrays. A `null` at the end of a non-empty path is `None`.
pub fn lookup<'a, V: crate::pattern::View>(mut v: &'a V, path: &str) -> Option<&'a V> {
    if path.is_empty() {
        return Some(v);
    }
    for seg in path.split('.') {
        v = match v.as_array() {
            Some(a) => a.get(seg.parse::<usize>().ok()?)?,
            None => v.get(seg)?,
        };
    }
    if v.is_null() {
        None
    } else {
        Some(v)
    }
}

/// The Unix time (seconds) of a timestamp [`parse_time`] reads. CloudTrail's own form
/// (`2024-08-01T13:33:28Z`, whole seconds, UTC) is read directly; anything else goes to
/// [`parse_time`].
pub fn epoch_of(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    if shape {
        if let (Some(y), Some(m), Some(d), Some(h), Some(mi), Some(sec)) = (
            num(0..4),
            num(5..7),
            num(8..10),
            num(11..13),
            num(14..16),
            num(17..19),
        ) {
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let days_in_month = match m {
                1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
                4 | 6 | 9 | 11 => 30,
                2 if leap => 29,
                2 => 28,
                _ => 0,
            };
            // A leap second (60) and anything out of range go the general way.
            if (1..=days_in_month).contains(&d) && h < 24 && mi < 60 && sec < 60 {
                return Some(days_from_civil(y, m, d) * 86_400 + h * 3_600 + mi * 60 + sec);
            }
        }
    }
    parse_time(s).map(|t| t.timestamp())
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses the timestamp forms CloudTrail uses: RFC 3339 (`2024-08-01T13:33:28Z`), with
/// fractional seconds, or without the zone (taken as UTC).
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y%m%dT%H%M%SZ",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(n.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The caller's name and kind read without building the principal are the principal's,
    /// for every identity type and for role sessions of every shape: with and without the
    /// issuer, Identity Center permission sets named either way, other partitions, paths,
    /// malformed and non-STS ARNs, and nothing at all.
    #[test]
    fn display_and_kind_equal_the_principals() {
        let arns = [
            None,
            Some("arn:aws:sts::111122223333:assumed-role/Admin/alice"),
            Some("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com"),
            Some("arn:aws-us-gov:sts::111122223333:assumed-role/path/AWSReservedSSO_X/s"),
            Some("arn:aws:sts::111122223333:assumed-role/NoSession"),
            Some("arn:aws:sts::111122223333:assumed-role//s"),
            Some("arn:aws:iam::111122223333:user/bob"),
            Some("arn:aws:sts::111122223333:federated-user/carol"),
            Some("arn:aws:sts:111122223333:assumed-role/Short/s"),
            Some("arn:aws:sts::1:2:assumed-role/Colon/s"),
            Some("arn:aws:iam::111122223333:assumed-role/AWSReservedSSO_NotSts/s"),
            Some("not an arn"),
            Some(""),
        ];
        let issuers = [
            None,
            Some("arn:aws:iam::111122223333:role/service-role/Deploy"),
            Some("arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReadOnly_99"),
            Some("Deploy"),
            Some(""),
        ];
        let types = [
            None,
            Some("AssumedRole"),
            Some("IAMUser"),
            Some("Root"),
            Some("AWSService"),
            Some("IdentityCenterUser"),
            Some("FederatedUser"),
            Some("SAMLUser"),
            Some("AWSAccount"),
            Some("Unheard"),
        ];
        let mut checked = 0;
        for identity_type in types {
            for arn in arns {
                for issuer_arn in issuers {
                    for (user_name, invoked_by) in
                        [(None, None), (Some("dan"), Some("ec2.amazonaws.com"))]
                    {
                        let c = Caller {
                            identity_type,
                            principal_id: Some("AIDAEXAMPLE"),
                            arn,
                            account_id: Some("111122223333"),
                            user_name,
                            invoked_by,
                            issuer_arn,
                        };
                        let p = c.principal();
                        assert_eq!(c.display_and_kind(), (p.display(), p.kind()), "{c:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 10 * 13 * 5 * 2);
        // Both kinds of role session are among the cases.
        let kind = |arn, issuer_arn| {
            Caller {
                identity_type: Some("AssumedRole"),
                arn,
                issuer_arn,
                ..Caller::default()
            }
            .display_and_kind()
            .1
        };
        assert_eq!(kind(arns[2], None), "IdentityCenterRole");
        assert_eq!(kind(arns[3], None), "IdentityCenterRole");
        assert_eq!(kind(arns[1], issuers[2]), "IdentityCenterRole");
        assert_eq!(kind(arns[2], issuers[1]), "AssumedRole");
    }

    fn rec(v: Value) -> Record {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn assumed_root_marker_is_read_in_either_place() {
        let plain = rec(json!({"userIdentity": {"type": "Root", "accountId": "222233334444"}}));
        assert!(!plain.assumed_root());
        for identity in [
            json!({"type": "Root", "sessionContext": {"assumedRoot": "true"}}),
            json!({"type": "Root", "assumedRoot": "true"}),
            json!({"type": "Root", "assumedRoot": true}),
        ] {
            assert!(
                rec(json!({"userIdentity": identity})).assumed_root(),
                "{identity}"
            );
        }
        let r = rec(json!({"userIdentity": {"type": "Root",
            "sessionContext": {"assumedRoot": "false"}}}));
        assert!(!r.assumed_root());
    }

    #[test]
    fn assumed_role_matches_by_role_arn_whatever_the_session() {
        let r = rec(json!({"userIdentity": {"type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/terraform/ci-run-42"}}));
        assert_eq!(
            r.principal(),
            Principal::AssumedRole {
                arn: Some("arn:aws:sts::111122223333:assumed-role/terraform/ci-run-42".into()),
                role_arn: Some("arn:aws:iam::111122223333:role/terraform".into()),
                session_name: Some("ci-run-42".into()),
            }
        );
        assert_eq!(
            r.principal().match_arn(),
            Some("arn:aws:iam::111122223333:role/terraform")
        );
    }

    #[test]
    fn session_issuer_arn_keeps_the_role_path() {
        let r = rec(json!({"userIdentity": {"type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/deployer/s",
            "sessionContext": {"sessionIssuer": {"type": "Role",
                "arn": "arn:aws:iam::111122223333:role/ci/deployer"}}}}));
        assert_eq!(
            r.principal().match_arn(),
            Some("arn:aws:iam::111122223333:role/ci/deployer")
        );
    }

    #[test]
    fn identity_center_sessions_are_recognised() {
        let r = rec(json!({"userIdentity": {"type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123abcd/alice@example.com"}}));
        assert_eq!(r.principal().kind(), "IdentityCenterRole");
    }

    #[test]
    fn service_event_without_type_is_an_aws_service() {
        let r = rec(json!({"userIdentity": {"accountId": "111122223333",
            "invokedBy": "cloudtrail.amazonaws.com"}}));
        assert_eq!(
            r.principal(),
            Principal::AwsService {
                service: Some("cloudtrail.amazonaws.com".into())
            }
        );
    }

    #[test]
    fn missing_identity_and_hidden_user_name_are_not_errors() {
        let r = rec(json!({"eventName": "ConsoleLogin"}));
        assert_eq!(r.principal().kind(), "Unknown");
        let r = rec(json!({"userIdentity": {"type": "IAMUser",
            "userName": "HIDDEN_DUE_TO_SECURITY_REASONS", "accountId": "111122223333"}}));
        assert_eq!(
            r.principal().display(),
            "IAM user HIDDEN_DUE_TO_SECURITY_REASONS"
        );
    }

    #[test]
    fn mfa_authenticated_is_a_string_in_real_records() {
        let r = rec(json!({"userIdentity": {"type": "IAMUser",
            "sessionContext": {"attributes": {"mfaAuthenticated": "true",
                "creationDate": "2024-08-01T13:30:00Z"}}}}));
        assert_eq!(r.user_identity.unwrap().mfa_authenticated(), Some(true));
        let r = rec(json!({"userIdentity": {"sessionContext": {"attributes":
            {"mfaAuthenticated": "false", "creationDate": "Thu Aug 01 13:30:00 UTC 2024"}}}}));
        assert_eq!(r.user_identity.unwrap().mfa_authenticated(), Some(false));
    }

    #[test]
    fn null_parameters_and_failed_calls() {
        let r = rec(json!({"requestParameters": null, "responseElements": null,
            "errorCode": "AccessDenied", "errorMessage": "no"}));
        assert!(r.failed());
        assert_eq!(r.request_param("userName"), None);
        assert!(!rec(json!({})).failed());
    }

    #[test]
    fn dotted_lookup_walks_objects_and_arrays() {
        let r = rec(json!({"requestParameters": {"ipPermissions": {"items": [
            {"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}}));
        assert_eq!(
            r.request_str("ipPermissions.items.0.ipRanges.items.0.cidrIp"),
            Some("0.0.0.0/0")
        );
        assert_eq!(r.request_param("ipPermissions.items.5"), None);
    }

    #[test]
    fn times_parse_in_the_forms_cloudtrail_uses() {
        assert!(parse_time("2024-08-01T13:33:28Z").is_some());
        assert!(parse_time("2024-08-01T13:33:28.123Z").is_some());
        assert!(parse_time("2024-08-01T13:33:28").is_some());
        assert!(parse_time("Aug 1, 2024 1:33:28 PM").is_none());
    }

    /// The direct reading of CloudTrail's timestamps gives the general parser's time for
    /// every day from 1900 to 2200 (leap years, century years, month ends) at several times
    /// of day, and leaves everything else to it: impossible dates and times, leap seconds,
    /// other separators, fractions, offsets, lower-case zones, signs and stray characters.
    #[test]
    fn epochs_read_directly_equal_the_parsers() {
        let mut checked = 0;
        let mut day = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
        let end = chrono::NaiveDate::from_ymd_opt(2200, 12, 31).unwrap();
        while day <= end {
            for (h, m, s) in [(0, 0, 0), (13, 33, 28), (23, 59, 59)] {
                let text = format!("{}T{h:02}:{m:02}:{s:02}Z", day.format("%Y-%m-%d"));
                let want = parse_time(&text).map(|t| t.timestamp());
                assert!(want.is_some(), "{text}");
                assert_eq!(epoch_of(&text), want, "{text}");
                checked += 1;
            }
            day = day.succ_opt().unwrap();
        }
        assert!(checked > 300_000, "{checked}");
        for text in [
            "2023-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T23:60:00Z",
            "2024-01-01T23:59:60Z",
            "2016-12-31T23:59:60Z",
            "2024-01-01 23:59:59Z",
            "2024-01-01T23:59:59z",
            "2024-01-01T23:59:59.5Z",
            "2024-01-01T23:59:59+02:00",
            "2024-01-01T23:59:59",
            "+024-01-01T23:59:59Z",
            "2024-0a-01T23:59:59Z",
            "2024-01-01T2 :59:59Z",
            "20240101T235959Z",
            "",
        ] {
            assert_eq!(
                epoch_of(text),
                parse_time(text).map(|t| t.timestamp()),
                "{text}"
            );
        }
    }

    #[test]
    fn console_url_refuses_odd_ids() {
        let r = rec(json!({"eventID": "a1b2-c3", "awsRegion": "eu-west-1"}));
        assert_eq!(
            r.console_url().unwrap(),
            "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/a1b2-c3"
        );
        let r = rec(json!({"eventID": "x\"><script>", "awsRegion": "eu-west-1"}));
        assert_eq!(r.console_url(), None);
    }
}
