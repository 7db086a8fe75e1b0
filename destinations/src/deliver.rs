//! The router: renders an alert once, lets each destination's routing decide, delivers to
//! the chosen destinations concurrently, and records what each answered.
//!
//! One destination failing (after its bounded retries) never stops or delays the others;
//! every failure is logged with the destination's name and recorded in
//! [`trailwarden::respond::Outcome::routed`]. Only the alert topic (`sns`) decides the run:
//! when it fails, the invocation fails and Lambda retries, as without routing.
//!
//! What a retry re-sends: everything routing selects, again. Security Hub updates the same
//! finding (same `Id`), PagerDuty folds the trigger into the open incident (same
//! `dedup_key`), webhooks get the same `X-Trailwarden-Delivery` id to drop the repeat; e-mail
//! and chat have no such key and show the alert again (the chat message lands in the same
//! thread). Deduplicating those needs a record of what was sent, which the state table of
//! the real-time path will hold.

use crate::asff::{self, Target};
use crate::config::{Destination, Kind, Settings};
use crate::http::{Backoff, HttpClient, Request};
use crate::secrets::Secrets;
use crate::{chatbot, pagerduty, route, securityhub, webhook};
use futures_util::future::join_all;
use std::future::Future;
use std::pin::Pin;
use trailwarden::alert::Rendered;
use trailwarden::aws::CallError;
use trailwarden::config::{Common, ConfigError, Env};
use trailwarden::respond::{AlertRouter, Delivery, DestinationDelivery, RouteStatus, Routed};
use trailwarden::{Alert, Severity};

/// Keys a PagerDuty secret may hold its routing key under (when it is JSON).
pub const PAGERDUTY_KEYS: [&str; 2] = ["routing_key", "integration_key"];
/// Keys a webhook secret may hold its signing secret under (when it is JSON).
pub const WEBHOOK_KEYS: [&str; 2] = ["secret", "signing_secret"];

/// A configured destination, ready to send.
struct Live {
    config: Destination,
    /// For Security Hub: the client in the product's region and the product.
    securityhub: Option<(aws_sdk_securityhub::Client, Target)>,
}

/// Delivers alerts to the configured destinations.
pub struct Router {
    floor: Severity,
    alert_topic: Option<String>,
    destinations: Vec<Live>,
    sns: aws_sdk_sns::Client,
    secrets: Secrets,
    http: HttpClient,
}

/// One destination, as `trailwarden alerts test` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Described {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// Where it delivers (topic ARN, product ARN, URL; never a secret's value).
    pub target: String,
    /// Its routing, in words.
    pub routing: String,
}

fn topic_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let p: Vec<&str> = arn.split(':').collect();
    (p.len() == 6).then(|| (p[1], p[3], p[4]))
}

impl Router {
    /// Reads `ALERT_DESTINATIONS` and `ALERT_ROUTING`; `None` when neither is set (the
    /// function publishes to `ALERT_TOPIC_ARN` alone, as without routing).
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        env: &dyn Env,
        common: &Common,
    ) -> Result<Option<Router>, ConfigError> {
        match Settings::from_env(env)? {
            None => Ok(None),
            Some(s) => Router::new(sdk, s, common).map(Some),
        }
    }

    /// The router for `settings`; the cold start's last check (a Security Hub destination
    /// needs a product ARN, given or derived from `ALERT_TOPIC_ARN`).
    pub fn new(
        sdk: &aws_config::SdkConfig,
        settings: Settings,
        common: &Common,
    ) -> Result<Router, ConfigError> {
        let mut destinations = Vec::with_capacity(settings.destinations.len());
        for d in settings.destinations {
            let securityhub = match &d.kind {
                Kind::SecurityHub { product_arn } => {
                    let target = match product_arn {
                        Some(p) => Target {
                            product_arn: p.clone(),
                        },
                        None => {
                            let Some((partition, region, account)) =
                                common.alert_topic_arn.as_deref().and_then(topic_parts)
                            else {
                                return Err(ConfigError::new(
                                    &format!("{} ({}).product_arn", crate::DESTINATIONS_VAR, d.name),
                                    "",
                                    "required when ALERT_TOPIC_ARN is not set: arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default",
                                ));
                            };
                            Target::default_product(partition, region, account)
                        }
                    };
                    let conf = aws_sdk_securityhub::config::Builder::from(sdk)
                        .region(aws_config::Region::new(target.region().to_string()))
                        .build();
                    Some((aws_sdk_securityhub::Client::from_conf(conf), target))
                }
                _ => None,
            };
            destinations.push(Live {
                config: d,
                securityhub,
            });
        }
        Ok(Router {
            floor: common.min_severity,
            alert_topic: common.alert_topic_arn.clone(),
            destinations,
            sns: aws_sdk_sns::Client::new(sdk),
            secrets: Secrets::new(aws_sdk_secretsmanager::Client::new(sdk)),
            http: HttpClient::new(Backoff::default()),
        })
    }

    /// The same router with another HTTP backoff (tests keep retries quick).
    pub fn with_backoff(mut self, backoff: Backoff) -> Router {
        self.http = HttpClient::new(backoff);
        self
    }

    /// The destinations, described.
    pub fn describe(&self) -> Vec<Described> {
        self.destinations
            .iter()
            .map(|l| {
                let d = &l.config;
                let target = match &d.kind {
                    Kind::Topic { topic_arn } => topic_arn
                        .clone()
                        .or_else(|| self.alert_topic.clone())
                        .unwrap_or_else(|| "ALERT_TOPIC_ARN (not set: logged only)".into()),
                    Kind::Chatbot { topic_arn } => topic_arn.clone(),
                    Kind::SecurityHub { .. } => l
                        .securityhub
                        .as_ref()
                        .map(|(_, t)| t.product_arn.clone())
                        .unwrap_or_default(),
                    Kind::PagerDuty {
                        events_url, secret, ..
                    } => format!("{events_url} (routing key from secret {secret})"),
                    Kind::Webhook { url, secret, .. } => {
                        format!("{url} (signed with secret {secret})")
                    }
                };
                let r = &d.route;
                let mut routing = format!("{} and above", r.min_severity.max(self.floor));
                if !r.detections.is_empty() {
                    routing.push_str(&format!("; detections {}", r.detections.join(", ")));
                }
                if !r.exclude_detections.is_empty() {
                    routing.push_str(&format!("; not {}", r.exclude_detections.join(", ")));
                }
                if !r.accounts.is_empty() {
                    routing.push_str(&format!("; accounts {}", r.accounts.join(", ")));
                }
                Described {
                    name: d.name.clone(),
                    type_name: d.kind.type_name().to_string(),
                    target,
                    routing,
                }
            })
            .collect()
    }

    /// Delivers one alert by routing.
    pub async fn deliver(&self, alert: &Alert) -> Routed {
        self.deliver_with(alert, false).await
    }

    /// Delivers one alert to every destination, routing set aside (`alerts test`).
    pub async fn deliver_to_all(&self, alert: &Alert) -> Routed {
        self.deliver_with(alert, true).await
    }

    async fn deliver_with(&self, alert: &Alert, everywhere: bool) -> Routed {
        // Rendered once: the alert topic's message and the webhook body come from it.
        let rendered = alert.render_logged();
        let records: Vec<DestinationDelivery> = join_all(
            self.destinations
                .iter()
                // Boxed: the SDK calls' futures are large, and several run side by side.
                .map(|l| Box::pin(self.one(l, alert, &rendered, everywhere))),
        )
        .await;
        let mut topic: Option<Delivery> = None;
        let mut topic_errors = Vec::new();
        for (l, r) in self.destinations.iter().zip(&records) {
            if !matches!(l.config.kind, Kind::Topic { .. }) {
                continue;
            }
            let d = match &r.status {
                RouteStatus::Sent { answer, .. } => Delivery::Sent {
                    message_id: answer
                        .strip_prefix("message ")
                        .unwrap_or(answer)
                        .to_string(),
                },
                RouteStatus::Skipped { .. } if self.topic_of(l).is_none() => Delivery::NoTopic,
                RouteStatus::Skipped { .. } => Delivery::BelowThreshold {
                    severity: alert.severity,
                },
                RouteStatus::Failed { error, .. } => {
                    topic_errors.push(format!("{}: {error}", l.config.name));
                    Delivery::Failed {
                        error: error.clone(),
                    }
                }
            };
            topic.get_or_insert(d);
        }
        let topic = if topic_errors.is_empty() {
            topic.unwrap_or(Delivery::NoTopic)
        } else {
            Delivery::Failed {
                error: topic_errors.join("; "),
            }
        };
        Routed {
            topic,
            destinations: records,
        }
    }

    fn topic_of<'a>(&'a self, l: &'a Live) -> Option<&'a str> {
        match &l.config.kind {
            Kind::Topic { topic_arn } => topic_arn.as_deref().or(self.alert_topic.as_deref()),
            _ => None,
        }
    }

    async fn one(
        &self,
        l: &Live,
        alert: &Alert,
        rendered: &Rendered,
        everywhere: bool,
    ) -> DestinationDelivery {
        let name = l.config.name.clone();
        let decided = if everywhere {
            Ok(())
        } else {
            route::decide(&l.config.route, self.floor, alert)
        };
        let status = match decided {
            Err(reason) => RouteStatus::Skipped { reason },
            Ok(()) => self.send(l, alert, rendered).await,
        };
        match &status {
            RouteStatus::Failed { error, attempts } => tracing::error!(
                destination = %name,
                detection = %alert.detection,
                attempts,
                error = %error,
                "alert not delivered"
            ),
            RouteStatus::Sent { answer, attempts } => tracing::info!(
                destination = %name,
                detection = %alert.detection,
                attempts,
                answer = %answer,
                "alert delivered"
            ),
            RouteStatus::Skipped { reason } => tracing::debug!(
                destination = %name,
                detection = %alert.detection,
                reason = %reason,
                "alert not for this destination"
            ),
        }
        DestinationDelivery {
            destination: name,
            status,
        }
    }

    async fn send(&self, l: &Live, alert: &Alert, rendered: &Rendered) -> RouteStatus {
        // What one attempt answered (the message id, the finding) or why it failed.
        let once = |r: Result<String, String>| match r {
            Ok(answer) => RouteStatus::Sent {
                answer,
                attempts: 1,
            },
            Err(error) => RouteStatus::Failed { error, attempts: 1 },
        };
        let failed = |error: String| once(Err(error));
        match &l.config.kind {
            Kind::Topic { .. } => {
                let Some(topic) = self.topic_of(l) else {
                    return RouteStatus::Skipped {
                        reason: "ALERT_TOPIC_ARN is not set: logged only".into(),
                    };
                };
                let published = self
                    .publish(
                        topic,
                        Some(&rendered.subject),
                        &rendered.message,
                        true,
                        rendered,
                    )
                    .await;
                once(published.map(|id| format!("message {id}")))
            }
            Kind::Chatbot { topic_arn } => {
                let message = chatbot::notification(alert).to_string();
                let published = self
                    .publish(topic_arn, None, &message, false, rendered)
                    .await;
                once(published.map(|id| format!("message {id}")))
            }
            Kind::SecurityHub { .. } => {
                let Some((client, target)) = &l.securityhub else {
                    return failed("no Security Hub product configured".into());
                };
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                let finding = asff::finding(alert, target, &now);
                once(Box::pin(securityhub::deliver(client, &finding)).await)
            }
            Kind::PagerDuty {
                secret,
                events_url,
                max_attempts,
            } => {
                let key = match self.secrets.get(secret, &PAGERDUTY_KEYS).await {
                    Ok(k) => k,
                    Err(e) => return failed(format!("routing key: {e}")),
                };
                let body =
                    serde_json::to_vec(&pagerduty::event(alert, key.expose())).unwrap_or_default();
                let r = self
                    .http
                    .send(*max_attempts, |_| Request {
                        url: events_url.clone(),
                        headers: vec![("content-type".into(), "application/json".into())],
                        body: body.clone(),
                    })
                    .await;
                http_status(r, key.expose())
            }
            Kind::Webhook {
                url,
                secret,
                max_attempts,
            } => {
                let key = match self.secrets.get(secret, &WEBHOOK_KEYS).await {
                    Ok(k) => k,
                    Err(e) => return failed(format!("signing secret: {e}")),
                };
                let body = webhook::body(alert, &rendered.json);
                let delivery = crate::identity::fingerprint(alert);
                let r = self
                    .http
                    .send(*max_attempts, |_| {
                        let ts = chrono::Utc::now().timestamp();
                        Request {
                            url: url.clone(),
                            headers: vec![
                                ("content-type".into(), "application/json".into()),
                                (
                                    "user-agent".into(),
                                    concat!("trailwarden/", env!("CARGO_PKG_VERSION")).into(),
                                ),
                                (webhook::TIMESTAMP_HEADER.into(), ts.to_string()),
                                (
                                    webhook::SIGNATURE_HEADER.into(),
                                    webhook::signature(key.expose().as_bytes(), ts, &body),
                                ),
                                (webhook::DELIVERY_HEADER.into(), delivery.clone()),
                            ],
                            body: body.clone(),
                        }
                    })
                    .await;
                http_status(r, key.expose())
            }
        }
    }

    async fn publish(
        &self,
        topic: &str,
        subject: Option<&str>,
        message: &str,
        structured: bool,
        rendered: &Rendered,
    ) -> Result<String, String> {
        let mut req = self
            .sns
            .publish()
            .topic_arn(topic)
            .message(message)
            .set_subject(subject.map(str::to_string))
            .set_message_attributes(Some(trailwarden::aws::message_attributes(rendered)?));
        if structured {
            req = req.message_structure("json");
        }
        let out = req
            .send()
            .await
            .map_err(|e| format!("Publish to {topic}: {}", CallError::from_sdk(&e)))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

/// A delivery record from HTTP attempts; `secret` is cut out of anything recorded, in case
/// an endpoint echoes it.
fn http_status(r: crate::http::Attempted, secret: &str) -> RouteStatus {
    let clean = |s: &str| {
        if secret.len() >= 4 {
            s.replace(secret, "[secret]")
        } else {
            s.to_string()
        }
    };
    match r.result {
        Ok(a) if a.success() => RouteStatus::Sent {
            answer: clean(&format!("HTTP {}: {}", a.status, a.body.trim()))
                .trim_end_matches([':', ' '])
                .to_string(),
            attempts: r.attempts,
        },
        Ok(a) => RouteStatus::Failed {
            error: clean(&format!(
                "HTTP {} after {} attempt(s): {}{}",
                a.status,
                r.attempts,
                a.body.trim(),
                if r.history.len() > 1 {
                    format!(" ({})", r.history.join("; "))
                } else {
                    String::new()
                }
            )),
            attempts: r.attempts,
        },
        Err(e) => RouteStatus::Failed {
            error: clean(&format!(
                "{e} after {} attempt(s) ({})",
                r.attempts,
                r.history.join("; ")
            )),
            attempts: r.attempts,
        },
    }
}

impl AlertRouter for Router {
    fn route<'a>(&'a self, alert: &'a Alert) -> Pin<Box<dyn Future<Output = Routed> + Send + 'a>> {
        Box::pin(self.deliver(alert))
    }
}
