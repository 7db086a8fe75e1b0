//! Shared set-up of the security-group tests against moto: groups and rules made directly in
//! EC2, read back, and the alert read back from the inbox.
#![allow(dead_code)]

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, SecurityGroupRule, Tag, TagSpecification,
};
use std::time::Duration;
use trailwarden_testkit::{AlertInbox, ReceivedAlert};

/// A new security group carrying `tags`; its id.
pub async fn create_group(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    description: &str,
    tags: &[(&str, &str)],
) -> String {
    let mut req = ec2
        .create_security_group()
        .group_name(name)
        .description(description);
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::SecurityGroup);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        req = req.tag_specifications(spec.build());
    }
    req.send().await.unwrap().group_id().unwrap().to_string()
}

/// tcp/`port` from each of `cidrs`.
pub fn tcp(port: i32, cidrs: &[&str]) -> IpPermission {
    let mut p = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port);
    for c in cidrs {
        p = p.ip_ranges(IpRange::builder().cidr_ip(*c).build());
    }
    p.build()
}

pub async fn authorize(ec2: &aws_sdk_ec2::Client, gid: &str, perms: &[IpPermission]) {
    ec2.authorize_security_group_ingress()
        .group_id(gid)
        .set_ip_permissions(Some(perms.to_vec()))
        .send()
        .await
        .unwrap();
}

/// The group's rules, ingress and egress, as moto has them now.
pub async fn rules(ec2: &aws_sdk_ec2::Client, gid: &str) -> Vec<SecurityGroupRule> {
    ec2.describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(gid).build())
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .to_vec()
}

/// The group's ingress rules as moto has them now.
pub async fn ingress(ec2: &aws_sdk_ec2::Client, gid: &str) -> Vec<SecurityGroupRule> {
    let mut rules = rules(ec2, gid).await;
    rules.retain(|r| r.is_egress() == Some(false));
    rules
}

/// The one alert the inbox receives next (waiting up to 15 s).
pub async fn one_alert(inbox: &AlertInbox) -> ReceivedAlert {
    let mut got = inbox.receive(1, Duration::from_secs(15)).await.unwrap();
    assert_eq!(got.len(), 1, "expected exactly one alert");
    got.remove(0)
}
