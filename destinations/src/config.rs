//! The destinations and their routing, read from two variables at cold start.
//!
//! `ALERT_DESTINATIONS` is a JSON array, one object per destination:
//!
//! ```json
//! [
//!   {"type": "sns", "name": "email", "min_severity": "high"},
//!   {"type": "chatbot", "topic_arn": "arn:aws:sns:us-east-1:111122223333:trailwarden-chat"},
//!   {"type": "securityhub"},
//!   {"type": "pagerduty", "secret": "arn:aws:secretsmanager:us-east-1:111122223333:secret:pd-AbCdEf",
//!    "detections": ["root-*", "iam-unapproved-user"]},
//!   {"type": "webhook", "url": "https://siem.example.com/hooks/trailwarden",
//!    "secret": "trailwarden/webhook", "accounts": ["111122223333"]}
//! ]
//! ```
//!
//! Every destination takes `min_severity` (`info` ... `critical`, or `off`), `detections` and
//! `exclude_detections` (globs over detection ids) and `accounts` (12-digit ids); each type
//! has its own fields (see [`Kind`]). `ALERT_ROUTING` is an optional JSON object of routing
//! overrides by destination name (`{"pagerduty": {"min_severity": "high"}}`): the stack
//! builds `ALERT_DESTINATIONS` from its parameters and passes the `AlertRouting` parameter
//! here. Secrets never appear in either: only the Secrets Manager secret's ARN or name.
//!
//! Unset `ALERT_DESTINATIONS`: alerts go to `ALERT_TOPIC_ARN` only, as without routing. A
//! malformed document stops the cold start with a [`ConfigError`] naming the setting, e.g.
//! `ALERT_DESTINATIONS[3] (pagerduty).min_severity="urgent" is not valid: ...`.

use serde_json::{Map, Value};
use trailwarden::config::{self, ConfigError, Env};
use trailwarden::Severity;

/// The variable holding the destinations.
pub const DESTINATIONS_VAR: &str = "ALERT_DESTINATIONS";
/// The variable holding routing overrides by destination name.
pub const ROUTING_VAR: &str = "ALERT_ROUTING";

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Most attempts an HTTP destination may be configured with.
pub const MAX_ATTEMPTS: u32 = 5;
/// Attempts of an HTTP destination unless configured.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// The destinations, in the order given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {
    pub destinations: Vec<Destination>,
}

/// One destination: what it is and which alerts it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// Unique name (`email`, `chat`, ...): in delivery records, logs and `ALERT_ROUTING`.
    pub name: String,
    pub kind: Kind,
    pub route: Route,
}

/// What a destination is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `sns`: the alert topic (e-mail subscribers get readable text, every other protocol
    /// the JSON body). `topic_arn` defaults to `ALERT_TOPIC_ARN`. A failure here fails the
    /// run so that Lambda retries, as without routing.
    Topic { topic_arn: Option<String> },
    /// `chatbot`: an SNS topic that AWS Chatbot (Amazon Q Developer in chat applications)
    /// is subscribed to; the message is a custom notification (Slack, Microsoft Teams).
    Chatbot { topic_arn: String },
    /// `securityhub`: each alert as an ASFF finding in the account's default product
    /// (`product_arn`, else derived from `ALERT_TOPIC_ARN`'s region and account).
    SecurityHub { product_arn: Option<String> },
    /// `pagerduty`: Events API v2; `secret` names the secret holding the routing key.
    PagerDuty {
        secret: String,
        events_url: String,
        max_attempts: u32,
    },
    /// `webhook`: an HTTPS POST of the alert's JSON, signed with HMAC-SHA256 over
    /// `timestamp.body` with the secret `secret` names.
    Webhook {
        url: String,
        secret: String,
        max_attempts: u32,
    },
}

impl Kind {
    /// The type's name in `ALERT_DESTINATIONS`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Topic { .. } => "sns",
            Kind::Chatbot { .. } => "chatbot",
            Kind::SecurityHub { .. } => "securityhub",
            Kind::PagerDuty { .. } => "pagerduty",
            Kind::Webhook { .. } => "webhook",
        }
    }

    /// The secret a destination reads, if any.
    pub fn secret(&self) -> Option<&str> {
        match self {
            Kind::PagerDuty { secret, .. } | Kind::Webhook { secret, .. } => Some(secret),
            _ => None,
        }
    }
}

/// Which alerts a destination takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `min_severity` `off`: the destination takes nothing (and is dropped at start).
    pub off: bool,
    pub min_severity: Severity,
    /// Detection-id globs; empty: every detection.
    pub detections: Vec<String>,
    /// Detection-id globs never sent here.
    pub exclude_detections: Vec<String>,
    /// Account ids; empty: every account.
    pub accounts: Vec<String>,
}

impl Route {
    fn new(min_severity: Severity) -> Route {
        Route {
            off: false,
            min_severity,
            detections: Vec::new(),
            exclude_detections: Vec::new(),
            accounts: Vec::new(),
        }
    }
}

/// The documented default minimum severity of each type: e-mail and chat for high and
/// above, Security Hub for everything, paging for critical, webhooks from low.
pub fn default_min_severity(type_name: &str) -> Severity {
    match type_name {
        "sns" | "chatbot" => Severity::High,
        "securityhub" => Severity::Info,
        "pagerduty" => Severity::Critical,
        _ => Severity::Low,
    }
}

/// The default name of each type.
fn default_name(type_name: &str) -> &'static str {
    match type_name {
        "sns" => "email",
        "chatbot" => "chat",
        "securityhub" => "securityhub",
        "pagerduty" => "pagerduty",
        _ => "webhook",
    }
}

const TYPES: &str = "sns, chatbot, securityhub, pagerduty, webhook";
const SEVERITIES: &str =
    "info, low, medium, high, critical, or off (the destination takes nothing)";

impl Settings {
    /// Reads `ALERT_DESTINATIONS` and `ALERT_ROUTING`. `None` when neither is set (alerts go
    /// to the alert topic alone, without routing).
    pub fn from_env(env: &dyn Env) -> Result<Option<Settings>, ConfigError> {
        let doc = config::get(env, DESTINATIONS_VAR);
        let routing = config::get(env, ROUTING_VAR);
        if doc.is_none() && routing.is_none() {
            return Ok(None);
        }
        let mut settings = match &doc {
            Some(d) => Settings::parse(d)?,
            // Routing overrides alone apply to the alert topic as it is without routing.
            None => Settings {
                destinations: vec![Destination {
                    name: "email".into(),
                    kind: Kind::Topic { topic_arn: None },
                    route: Route::new(Severity::Info),
                }],
            },
        };
        if let Some(r) = &routing {
            settings.apply_routing(r)?;
        }
        settings.destinations.retain(|d| !d.route.off);
        Ok(Some(settings))
    }

    /// Parses an `ALERT_DESTINATIONS` document (destinations set to `off` are kept, marked;
    /// [`Settings::from_env`] drops them).
    pub fn parse(doc: &str) -> Result<Settings, ConfigError> {
        let v: Value = serde_json::from_str(doc).map_err(|e| {
            ConfigError::new(
                DESTINATIONS_VAR,
                &excerpt(doc),
                format!(
                    "expected a JSON array of destinations ({{\"type\": \"{TYPES}\", ...}}): {e}"
                ),
            )
        })?;
        let Value::Array(items) = v else {
            return Err(ConfigError::new(
                DESTINATIONS_VAR,
                &excerpt(doc),
                format!("expected a JSON array of destinations, one object each (types: {TYPES})"),
            ));
        };
        let mut destinations: Vec<Destination> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let d = destination(i, item)?;
            if let Some(other) = destinations.iter().find(|o| o.name == d.name) {
                return Err(ConfigError::new(
                    &format!("{DESTINATIONS_VAR}[{i}].name"),
                    &d.name,
                    format!(
                        "each destination needs its own name; {:?} is already the {} destination's (add \"name\")",
                        d.name,
                        other.kind.type_name()
                    ),
                ));
            }
            destinations.push(d);
        }
        Ok(Settings { destinations })
    }

    /// Applies `ALERT_ROUTING` overrides by destination name.
    fn apply_routing(&mut self, doc: &str) -> Result<(), ConfigError> {
        let v: Value = serde_json::from_str(doc).map_err(|e| {
            ConfigError::new(
                ROUTING_VAR,
                &excerpt(doc),
                format!("expected a JSON object of routing by destination name: {e}"),
            )
        })?;
        let Value::Object(by_name) = v else {
            return Err(ConfigError::new(
                ROUTING_VAR,
                &excerpt(doc),
                "expected a JSON object of routing by destination name, e.g. {\"pagerduty\": {\"min_severity\": \"high\"}}",
            ));
        };
        for (name, over) in &by_name {
            let at = format!("{ROUTING_VAR}.{name}");
            let names: Vec<String> = self.destinations.iter().map(|d| d.name.clone()).collect();
            let Some(d) = self.destinations.iter_mut().find(|d| &d.name == name) else {
                return Err(ConfigError::new(
                    ROUTING_VAR,
                    name,
                    format!(
                        "names no configured destination (configured: {})",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                ));
            };
            let Value::Object(m) = over else {
                return Err(ConfigError::new(
                    &at,
                    &over.to_string(),
                    "expected an object with min_severity, detections, exclude_detections or accounts",
                ));
            };
            let fields = Fields::new(&at, m);
            fields.only(&[
                "min_severity",
                "detections",
                "exclude_detections",
                "accounts",
            ])?;
            route_into(&fields, &mut d.route)?;
        }
        Ok(())
    }

    /// The destinations that read a secret: (name, secret ARN or name).
    pub fn secrets(&self) -> Vec<(&str, &str)> {
        self.destinations
            .iter()
            .filter_map(|d| d.kind.secret().map(|s| (d.name.as_str(), s)))
            .collect()
    }
}

/// A field reader that names the setting in every error.
struct Fields<'a> {
    at: String,
    m: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(at: &str, m: &'a Map<String, Value>) -> Fields<'a> {
        Fields {
            at: at.to_string(),
            m,
        }
    }

    fn err(&self, field: &str, value: &str, expected: impl Into<String>) -> ConfigError {
        ConfigError::new(&format!("{}.{field}", self.at), value, expected)
    }

    /// Refuses fields other than `allowed` (a routing key or signing secret written inline
    /// is refused here, with where it belongs).
    fn only(&self, allowed: &[&str]) -> Result<(), ConfigError> {
        for (k, v) in self.m {
            if allowed.contains(&k.as_str()) {
                continue;
            }
            let inline_secret = matches!(
                k.as_str(),
                "routing_key" | "integration_key" | "signing_secret" | "secret_value" | "key"
            );
            let shown = if inline_secret {
                "[not shown]".to_string()
            } else {
                excerpt(&v.to_string())
            };
            return Err(self.err(
                k,
                &shown,
                if inline_secret {
                    "secrets are never written here: store it in Secrets Manager and give the secret's ARN or name in \"secret\"".to_string()
                } else {
                    format!("unknown field; the fields here are: {}", allowed.join(", "))
                },
            ));
        }
        Ok(())
    }

    fn string(&self, field: &str) -> Result<Option<String>, ConfigError> {
        match self.m.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(other) => Err(self.err(field, &other.to_string(), "expected a string")),
        }
    }

    fn required(&self, field: &str, what: &str) -> Result<String, ConfigError> {
        self.string(field)?
            .ok_or_else(|| self.err(field, "", format!("required: {what}")))
    }

    fn list(&self, field: &str) -> Result<Vec<String>, ConfigError> {
        match self.m.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                    other => Err(self.err(
                        field,
                        &other.to_string(),
                        "expected a list of non-empty strings",
                    )),
                })
                .collect(),
            // A comma-separated string is accepted too (what a stack parameter holds).
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()),
            Some(other) => Err(self.err(field, &other.to_string(), "expected a list of strings")),
        }
    }

    fn attempts(&self) -> Result<u32, ConfigError> {
        match self.m.get("max_attempts") {
            None | Some(Value::Null) => Ok(DEFAULT_ATTEMPTS),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(x) if (1..=u64::from(MAX_ATTEMPTS)).contains(&x) => Ok(x as u32),
                _ => Err(self.err(
                    "max_attempts",
                    &n.to_string(),
                    format!("expected 1 to {MAX_ATTEMPTS}"),
                )),
            },
            Some(other) => Err(self.err(
                "max_attempts",
                &other.to_string(),
                format!("expected a number, 1 to {MAX_ATTEMPTS}"),
            )),
        }
    }
}

fn excerpt(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= 80 {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(77).collect::<String>())
    }
}

/// Reads the routing fields present in `f` into `route`.
fn route_into(f: &Fields<'_>, route: &mut Route) -> Result<(), ConfigError> {
    if let Some(s) = f.string("min_severity")? {
        route.off = s.eq_ignore_ascii_case("off");
        if !route.off {
            route.min_severity = s
                .parse::<Severity>()
                .map_err(|_| f.err("min_severity", &s, format!("accepted values: {SEVERITIES}")))?;
        }
    }
    if f.m.contains_key("detections") {
        route.detections = f.list("detections")?;
    }
    if f.m.contains_key("exclude_detections") {
        route.exclude_detections = f.list("exclude_detections")?;
    }
    if f.m.contains_key("accounts") {
        let accounts = f.list("accounts")?;
        for a in &accounts {
            if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
                return Err(f.err("accounts", a, "expected 12-digit AWS account ids"));
            }
        }
        route.accounts = accounts;
    }
    Ok(())
}

fn destination(i: usize, item: &Value) -> Result<Destination, ConfigError> {
    let Value::Object(m) = item else {
        return Err(ConfigError::new(
            &format!("{DESTINATIONS_VAR}[{i}]"),
            &excerpt(&item.to_string()),
            format!("expected an object with \"type\" ({TYPES})"),
        ));
    };
    let type_name = match m.get("type") {
        Some(Value::String(t)) => t.trim().to_ascii_lowercase(),
        other => {
            return Err(ConfigError::new(
                &format!("{DESTINATIONS_VAR}[{i}].type"),
                &other.map(Value::to_string).unwrap_or_default(),
                format!("required, one of: {TYPES}"),
            ))
        }
    };
    let type_name = match type_name.as_str() {
        "email" => "sns".to_string(),
        "security-hub" | "security_hub" => "securityhub".to_string(),
        _ => type_name,
    };
    if !["sns", "chatbot", "securityhub", "pagerduty", "webhook"].contains(&type_name.as_str()) {
        return Err(ConfigError::new(
            &format!("{DESTINATIONS_VAR}[{i}].type"),
            &type_name,
            format!("one of: {TYPES}"),
        ));
    }
    let f = Fields::new(&format!("{DESTINATIONS_VAR}[{i}] ({type_name})"), m);
    let common = [
        "type",
        "name",
        "min_severity",
        "detections",
        "exclude_detections",
        "accounts",
    ];
    let own: &[&str] = match type_name.as_str() {
        "sns" | "chatbot" => &["topic_arn"],
        "securityhub" => &["product_arn"],
        "pagerduty" => &["secret", "events_url", "max_attempts"],
        _ => &["url", "secret", "max_attempts"],
    };
    let allowed: Vec<&str> = common.iter().chain(own).copied().collect();
    f.only(&allowed)?;
    let name = f
        .string("name")?
        .unwrap_or_else(|| default_name(&type_name).to_string());
    if name.len() > 32
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(f.err(
            "name",
            &name,
            "expected up to 32 lower-case letters, digits, '-' or '_'",
        ));
    }
    let mut route = Route::new(default_min_severity(&type_name));
    route_into(&f, &mut route)?;
    let kind = match type_name.as_str() {
        "sns" => Kind::Topic {
            topic_arn: f
                .string("topic_arn")?
                .map(|t| check_arn(&f, "topic_arn", &t, "sns"))
                .transpose()?,
        },
        "chatbot" => {
            let t = f.required(
                "topic_arn",
                "the SNS topic your AWS Chatbot channel configuration subscribes to",
            )?;
            Kind::Chatbot {
                topic_arn: check_arn(&f, "topic_arn", &t, "sns")?,
            }
        }
        "securityhub" => Kind::SecurityHub {
            product_arn: f
                .string("product_arn")?
                .map(|p| check_product_arn(&f, &p))
                .transpose()?,
        },
        "pagerduty" => Kind::PagerDuty {
            secret: secret_ref(&f)?,
            events_url: match f.string("events_url")? {
                Some(u) => check_url(&f, "events_url", &u)?,
                None => PAGERDUTY_EVENTS_URL.to_string(),
            },
            max_attempts: f.attempts()?,
        },
        _ => {
            let url = f.required("url", "the HTTPS URL alerts are POSTed to")?;
            Kind::Webhook {
                url: check_url(&f, "url", &url)?,
                secret: secret_ref(&f)?,
                max_attempts: f.attempts()?,
            }
        }
    };
    Ok(Destination { name, kind, route })
}

fn check_arn(f: &Fields<'_>, field: &str, v: &str, service: &str) -> Result<String, ConfigError> {
    let parts: Vec<&str> = v.split(':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[2] != service || parts[5].is_empty() {
        return Err(f.err(
            field,
            v,
            format!("expected an {service} ARN (arn:aws:{service}:REGION:ACCOUNT:NAME)"),
        ));
    }
    Ok(v.to_string())
}

fn check_product_arn(f: &Fields<'_>, v: &str) -> Result<String, ConfigError> {
    let parts: Vec<&str> = v.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "securityhub"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[5].starts_with("product/");
    if !ok {
        return Err(f.err(
            "product_arn",
            v,
            "expected arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default",
        ));
    }
    Ok(v.to_string())
}

fn secret_ref(f: &Fields<'_>) -> Result<String, ConfigError> {
    let s = f.required(
        "secret",
        "the ARN or name of the Secrets Manager secret holding the key (never the key itself)",
    )?;
    let name_ok = s.len() <= 2048
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-:".contains(c));
    if !name_ok || (s.contains(':') && !s.starts_with("arn:")) {
        return Err(f.err(
            "secret",
            "[not shown]",
            "expected a Secrets Manager secret ARN (arn:aws:secretsmanager:...) or name",
        ));
    }
    if s.starts_with("arn:") && s.split(':').nth(2) != Some("secretsmanager") {
        return Err(f.err(
            "secret",
            &s,
            "expected a Secrets Manager secret ARN (arn:aws:secretsmanager:...) or name",
        ));
    }
    Ok(s)
}

/// HTTPS only; plain HTTP only to a loopback address (a local test endpoint).
fn check_url(f: &Fields<'_>, field: &str, v: &str) -> Result<String, ConfigError> {
    let uri: hyper::Uri = v
        .parse()
        .map_err(|e| f.err(field, v, format!("expected an https:// URL ({e})")))?;
    let host = uri.host().unwrap_or("");
    let loopback = host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1";
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(v.to_string()),
        Some("http") if loopback => Ok(v.to_string()),
        Some("http") => Err(f.err(
            field,
            v,
            "expected an https:// URL (plain http only to 127.0.0.1, for local tests)",
        )),
        _ => Err(f.err(field, v, "expected an https:// URL")),
    }
}
