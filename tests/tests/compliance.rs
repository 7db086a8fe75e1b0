//! ComplianceMode against moto: the template's CIS log group, metric filters and alarms are
//! created as CloudFormation would create them (properties taken from template.yaml, with
//! `${AWS::StackName}` filled in and the alarm topic standing in for `!Ref`), then read back
//! the way an auditor, or Security Hub's CloudWatch.1-14 controls, reads them:
//! `DescribeMetricFilters` on the trail's log group, `DescribeAlarms`, and the topic's
//! subscriptions.

#[path = "support/cis.rs"]
mod cis;
#[path = "support/template_json.rs"]
mod template_json;

use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricAlarm, Statistic};
use aws_sdk_cloudwatchlogs::types::{MetricFilter, MetricTransformation};
use serde_json::Value;
use std::path::Path;
use template_json::{resources, sub};
use trailwarden_testkit::{AlertInbox, Moto};

const STACK: &str = "trailwarden";

fn template() -> Value {
    template_json::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
}

fn num(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test]
async fn the_cis_filters_and_alarms_deploy_and_read_back_as_the_controls_require() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let t = template();

    // The alarm topic with a subscriber (a queue standing in for AlertEmail).
    let inbox = AlertInbox::create(&sdk, &format!("{STACK}-cis-alarms"))
        .await
        .unwrap();
    let resolve = |v: &Value| -> String {
        match v.get("Ref").and_then(Value::as_str) {
            Some("ComplianceAlarmTopic") => inbox.topic_arn.clone(),
            Some(other) => panic!("unexpected !Ref {other}"),
            None => sub(v, STACK),
        }
    };

    // The log group the trail delivers to.
    let group = &t["Resources"]["TrailLogGroup"];
    assert_eq!(group["Condition"], "Compliance");
    let group_name = sub(&group["Properties"]["LogGroupName"], STACK);
    logs.create_log_group()
        .log_group_name(&group_name)
        .send()
        .await
        .unwrap();
    let retention = t["Parameters"]["ComplianceLogRetentionDays"]["Default"]
        .as_i64()
        .unwrap();
    logs.put_retention_policy()
        .log_group_name(&group_name)
        .retention_in_days(retention as i32)
        .send()
        .await
        .unwrap();

    // ComplianceMode's resources (the stack has other alarms, on its own health).
    let compliance = |r: &&(&str, &Value)| r.1["Condition"] == "Compliance";
    let filters: Vec<(&str, &Value)> = resources(&t, "AWS::Logs::MetricFilter")
        .into_iter()
        .filter(|r| compliance(&r))
        .collect();
    assert!(filters.len() >= cis::CONTROLS.len());
    for (id, f) in &filters {
        let p = &f["Properties"];
        assert_eq!(f["Condition"], "Compliance", "{id}");
        assert_eq!(p["LogGroupName"]["Ref"], "TrailLogGroup", "{id}");
        let m = &p["MetricTransformations"][0];
        logs.put_metric_filter()
            .log_group_name(&group_name)
            .filter_name(sub(&p["FilterName"], STACK))
            .filter_pattern(p["FilterPattern"].as_str().unwrap())
            .metric_transformations(
                MetricTransformation::builder()
                    .metric_namespace(m["MetricNamespace"].as_str().unwrap())
                    .metric_name(m["MetricName"].as_str().unwrap())
                    .metric_value(m["MetricValue"].as_str().unwrap())
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("{id}: {e:?}"));
    }
    for (id, a) in resources(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|r| compliance(&r))
    {
        let p = &a["Properties"];
        let actions: Vec<String> = p["AlarmActions"]
            .as_array()
            .unwrap()
            .iter()
            .map(&resolve)
            .collect();
        cw.put_metric_alarm()
            .alarm_name(resolve(&p["AlarmName"]))
            .alarm_description(p["AlarmDescription"].as_str().unwrap())
            .namespace(p["Namespace"].as_str().unwrap())
            .metric_name(p["MetricName"].as_str().unwrap())
            .statistic(Statistic::from(p["Statistic"].as_str().unwrap()))
            .period(num(&p["Period"]) as i32)
            .evaluation_periods(num(&p["EvaluationPeriods"]) as i32)
            .threshold(num(&p["Threshold"]))
            .comparison_operator(ComparisonOperator::from(
                p["ComparisonOperator"].as_str().unwrap(),
            ))
            .treat_missing_data(p["TreatMissingData"].as_str().unwrap())
            .set_alarm_actions(Some(actions))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{id}: {e:?}"));
    }

    // Read back.
    let mut found: Vec<MetricFilter> = Vec::new();
    let mut token = None;
    loop {
        let out = logs
            .describe_metric_filters()
            .log_group_name(&group_name)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        found.extend(out.metric_filters().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut alarms: Vec<MetricAlarm> = Vec::new();
    let mut token = None;
    loop {
        let out = cw
            .describe_alarms()
            .alarm_name_prefix(format!("{STACK}-CIS-"))
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        alarms.extend(out.metric_alarms().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(found.len(), cis::CONTROLS.len(), "one filter per control");
    assert_eq!(alarms.len(), cis::CONTROLS.len(), "one alarm per filter");

    for c in cis::CONTROLS {
        let what = format!("CIS {} {}", c.cis, c.security_hub.unwrap_or(""));
        // The exact text: Security Hub fails a control whose filter differs at all.
        let f = found
            .iter()
            .find(|f| f.filter_pattern() == Some(c.pattern))
            .unwrap_or_else(|| panic!("{what}: no filter with the benchmark's exact pattern"));
        assert_eq!(f.log_group_name(), Some(group_name.as_str()));
        let m = &f.metric_transformations()[0];
        assert_eq!(m.metric_value(), "1", "{what}");
        let alarm = alarms
            .iter()
            .find(|a| {
                a.metric_name() == Some(m.metric_name())
                    && a.namespace() == Some(m.metric_namespace())
            })
            .unwrap_or_else(|| panic!("{what}: no alarm on {}", m.metric_name()));
        assert_eq!(
            alarm.alarm_actions(),
            std::slice::from_ref(&inbox.topic_arn),
            "{what}: the alarm publishes to the alarm topic"
        );
        assert_eq!(alarm.threshold(), Some(1.0), "{what}");
        assert_eq!(
            alarm.comparison_operator(),
            Some(&ComparisonOperator::GreaterThanOrEqualToThreshold),
            "{what}"
        );
        assert!(
            alarm.alarm_description().is_some_and(|d| d.contains(c.cis)),
            "{what}: {:?}",
            alarm.alarm_description()
        );
    }

    // The controls also need the topic to have a subscriber.
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(&inbox.topic_arn)
        .send()
        .await
        .unwrap();
    assert!(
        !subs.subscriptions().is_empty(),
        "the alarm topic has no subscriber"
    );

    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(&group_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        groups.log_groups()[0].retention_in_days(),
        Some(retention as i32)
    );
}
