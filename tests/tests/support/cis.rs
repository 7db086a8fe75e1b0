//! The CIS AWS Foundations Benchmark v1.4.0 monitoring controls (section 4) as CloudWatch
//! Logs metric filters, with the exact filter pattern text the benchmark prescribes and
//! Security Hub's CloudWatch.1-14 controls check ("additional fields or terms cannot be
//! added"). For 4.1 Security Hub's CloudWatch.2 checks the v1.2.0 text (3.1), so both texts
//! are required; 4.2 is the benchmark's variant for accounts with single sign-on, which is the
//! text CloudWatch.3 checks; 4.15 has no Security Hub control.
//!
//! Written down here, independently of template.yaml, so that a template whose filter drifts
//! from the benchmark's text fails the tests.

/// One monitoring control.
pub struct Control {
    /// The CIS v1.4.0 control.
    pub cis: &'static str,
    /// The Security Hub control that checks the same filter, if any.
    pub security_hub: Option<&'static str>,
    /// The exact filter pattern.
    pub pattern: &'static str,
}

pub const CONTROLS: &[Control] = &[
    Control {
        cis: "4.1",
        security_hub: None,
        pattern: r#"{ ($.errorCode ="*UnauthorizedOperation") || ($.errorCode ="AccessDenied*") && ($.sourceIPAddress!="delivery.logs.amazonaws.com") && ($.eventName!="HeadBucket") }"#,
    },
    Control {
        cis: "4.1",
        security_hub: Some("CloudWatch.2"),
        pattern: r#"{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}"#,
    },
    Control {
        cis: "4.2",
        security_hub: Some("CloudWatch.3"),
        pattern: r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#,
    },
    Control {
        cis: "4.3",
        security_hub: Some("CloudWatch.1"),
        pattern: r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#,
    },
    Control {
        cis: "4.4",
        security_hub: Some("CloudWatch.4"),
        pattern: r#"{($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || ($.eventName=DeleteUserPolicy) || ($.eventName=PutGroupPolicy) || ($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || ($.eventName=CreatePolicy) || ($.eventName=DeletePolicy) || ($.eventName=CreatePolicyVersion) || ($.eventName=DeletePolicyVersion) || ($.eventName=AttachRolePolicy) || ($.eventName=DetachRolePolicy) || ($.eventName=AttachUserPolicy) || ($.eventName=DetachUserPolicy) || ($.eventName=AttachGroupPolicy) || ($.eventName=DetachGroupPolicy)}"#,
    },
    Control {
        cis: "4.5",
        security_hub: Some("CloudWatch.5"),
        pattern: r#"{($.eventName=CreateTrail) || ($.eventName=UpdateTrail) || ($.eventName=DeleteTrail) || ($.eventName=StartLogging) || ($.eventName=StopLogging)}"#,
    },
    Control {
        cis: "4.6",
        security_hub: Some("CloudWatch.6"),
        pattern: r#"{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}"#,
    },
    Control {
        cis: "4.7",
        security_hub: Some("CloudWatch.7"),
        pattern: r#"{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}"#,
    },
    Control {
        cis: "4.8",
        security_hub: Some("CloudWatch.8"),
        pattern: r#"{($.eventSource=s3.amazonaws.com) && (($.eventName=PutBucketAcl) || ($.eventName=PutBucketPolicy) || ($.eventName=PutBucketCors) || ($.eventName=PutBucketLifecycle) || ($.eventName=PutBucketReplication) || ($.eventName=DeleteBucketPolicy) || ($.eventName=DeleteBucketCors) || ($.eventName=DeleteBucketLifecycle) || ($.eventName=DeleteBucketReplication))}"#,
    },
    Control {
        cis: "4.9",
        security_hub: Some("CloudWatch.9"),
        pattern: r#"{($.eventSource=config.amazonaws.com) && (($.eventName=StopConfigurationRecorder) || ($.eventName=DeleteDeliveryChannel) || ($.eventName=PutDeliveryChannel) || ($.eventName=PutConfigurationRecorder))}"#,
    },
    Control {
        cis: "4.10",
        security_hub: Some("CloudWatch.10"),
        pattern: r#"{($.eventName=AuthorizeSecurityGroupIngress) || ($.eventName=AuthorizeSecurityGroupEgress) || ($.eventName=RevokeSecurityGroupIngress) || ($.eventName=RevokeSecurityGroupEgress) || ($.eventName=CreateSecurityGroup) || ($.eventName=DeleteSecurityGroup)}"#,
    },
    Control {
        cis: "4.11",
        security_hub: Some("CloudWatch.11"),
        pattern: r#"{($.eventName=CreateNetworkAcl) || ($.eventName=CreateNetworkAclEntry) || ($.eventName=DeleteNetworkAcl) || ($.eventName=DeleteNetworkAclEntry) || ($.eventName=ReplaceNetworkAclEntry) || ($.eventName=ReplaceNetworkAclAssociation)}"#,
    },
    Control {
        cis: "4.12",
        security_hub: Some("CloudWatch.12"),
        pattern: r#"{($.eventName=CreateCustomerGateway) || ($.eventName=DeleteCustomerGateway) || ($.eventName=AttachInternetGateway) || ($.eventName=CreateInternetGateway) || ($.eventName=DeleteInternetGateway) || ($.eventName=DetachInternetGateway)}"#,
    },
    Control {
        cis: "4.13",
        security_hub: Some("CloudWatch.13"),
        pattern: r#"{($.eventName=CreateRoute) || ($.eventName=CreateRouteTable) || ($.eventName=ReplaceRoute) || ($.eventName=ReplaceRouteTableAssociation) || ($.eventName=DeleteRouteTable) || ($.eventName=DeleteRoute) || ($.eventName=DisassociateRouteTable)}"#,
    },
    Control {
        cis: "4.14",
        security_hub: Some("CloudWatch.14"),
        pattern: r#"{($.eventName=CreateVpc) || ($.eventName=DeleteVpc) || ($.eventName=ModifyVpcAttribute) || ($.eventName=AcceptVpcPeeringConnection) || ($.eventName=CreateVpcPeeringConnection) || ($.eventName=DeleteVpcPeeringConnection) || ($.eventName=RejectVpcPeeringConnection) || ($.eventName=AttachClassicLinkVpc) || ($.eventName=DetachClassicLinkVpc) || ($.eventName=DisableVpcClassicLink) || ($.eventName=EnableVpcClassicLink)}"#,
    },
    Control {
        cis: "4.15",
        security_hub: None,
        pattern: r#"{ ($.eventSource = organizations.amazonaws.com) && (($.eventName = "AcceptHandshake") || ($.eventName = "AttachPolicy") || ($.eventName = "CreateAccount") || ($.eventName = "CreateOrganizationalUnit") || ($.eventName = "CreatePolicy") || ($.eventName = "DeclineHandshake") || ($.eventName = "DeleteOrganization") || ($.eventName = "DeleteOrganizationalUnit") || ($.eventName = "DeletePolicy") || ($.eventName = "DetachPolicy") || ($.eventName = "DisablePolicyType") || ($.eventName = "EnablePolicyType") || ($.eventName = "InviteAccountToOrganization") || ($.eventName = "LeaveOrganization") || ($.eventName = "MoveAccount") || ($.eventName = "RemoveAccountFromOrganization") || ($.eventName = "UpdatePolicy") || ($.eventName = "UpdateOrganizationalUnit")) }"#,
    },
];
