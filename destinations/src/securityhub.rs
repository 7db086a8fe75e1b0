//! Security Hub: imports a [`Finding`] with `BatchImportFindings`, and moves its workflow to
//! `RESOLVED` with `BatchUpdateFindings` when the response finished.
//!
//! Why both calls: `BatchImportFindings` sets `Workflow` only when it *creates* a finding;
//! afterwards the workflow belongs to the people triaging (Security Hub keeps it). A finding
//! first imported `NEW` (a failed step, a dry run, notify mode) and resolved by a later
//! delivery (Lambda's retry, the quarantine started from the finding) is moved with
//! `BatchUpdateFindings`, which the account may call on its own findings.

use crate::asff::{Finding, ResourceField};
use aws_sdk_securityhub::types::{
    AwsEc2SecurityGroupDetails, AwsIamUserDetails, AwsSecurityFinding,
    AwsSecurityFindingIdentifier, Compliance, ComplianceStatus, FindingProviderFields,
    FindingProviderSeverity, NoteUpdate, Partition, Recommendation, RecordState, Remediation,
    Resource, ResourceDetails, Severity, SeverityLabel, Workflow, WorkflowStatus, WorkflowUpdate,
};
use trailwarden::aws::CallError;

fn resource(r: &ResourceField) -> Resource {
    let mut b = Resource::builder()
        .r#type(&r.kind)
        .id(&r.id)
        .partition(Partition::from(r.partition.as_str()))
        .set_region(r.region.clone());
    if let Some(d) = &r.details {
        let mut details = ResourceDetails::builder();
        if let Some(u) = d.get("AwsIamUser") {
            let s = |k: &str| u.get(k).and_then(|v| v.as_str()).map(str::to_string);
            details = details.aws_iam_user(
                AwsIamUserDetails::builder()
                    .set_user_name(s("UserName"))
                    .set_path(s("Path"))
                    .set_user_id(s("UserId"))
                    .build(),
            );
        }
        if let Some(g) = d
            .get("AwsEc2SecurityGroup")
            .and_then(|g| g.get("GroupId"))
            .and_then(|v| v.as_str())
        {
            details = details
                .aws_ec2_security_group(AwsEc2SecurityGroupDetails::builder().group_id(g).build());
        }
        b = b.details(details.build());
    }
    b.build()
}

/// The SDK form of a finding.
pub fn to_sdk(f: &Finding) -> AwsSecurityFinding {
    let severity = Severity::builder()
        .label(SeverityLabel::from(f.severity.label.as_str()))
        .original(&f.severity.original)
        .build();
    let mut b = AwsSecurityFinding::builder()
        .schema_version(&f.schema_version)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .product_name(&f.product_name)
        .company_name(&f.company_name)
        .generator_id(&f.generator_id)
        .aws_account_id(&f.aws_account_id)
        .set_types(Some(f.types.clone()))
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .set_first_observed_at(f.first_observed_at.clone())
        .set_last_observed_at(f.last_observed_at.clone())
        .severity(severity)
        .title(&f.title)
        .description(&f.description)
        .set_source_url(f.source_url.clone())
        .set_product_fields(Some(f.product_fields.clone().into_iter().collect()))
        .set_resources(Some(f.resources.iter().map(resource).collect()))
        .workflow(
            Workflow::builder()
                .status(WorkflowStatus::from(f.workflow.status.as_str()))
                .build(),
        )
        .record_state(RecordState::from(f.record_state.as_str()))
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(
                    FindingProviderSeverity::builder()
                        .label(SeverityLabel::from(
                            f.finding_provider_fields.severity.label.as_str(),
                        ))
                        .original(&f.finding_provider_fields.severity.original)
                        .build(),
                )
                .set_types(Some(f.finding_provider_fields.types.clone()))
                .build(),
        );
    if let Some(c) = &f.compliance {
        b = b.compliance(
            Compliance::builder()
                .status(ComplianceStatus::from(c.status.as_str()))
                .set_related_requirements(Some(c.related_requirements.clone()))
                .build(),
        );
    }
    if let Some(r) = &f.remediation {
        b = b.remediation(
            Remediation::builder()
                .recommendation(
                    Recommendation::builder()
                        .text(&r.recommendation.text)
                        .set_url(r.recommendation.url.clone())
                        .build(),
                )
                .build(),
        );
    }
    b.build()
}

/// Imports the finding; when it says `RESOLVED`, also moves an existing finding there.
/// Gives what Security Hub answered.
pub async fn deliver(client: &aws_sdk_securityhub::Client, f: &Finding) -> Result<String, String> {
    let out = client
        .batch_import_findings()
        .findings(to_sdk(f))
        .send()
        .await
        .map_err(|e| format!("BatchImportFindings: {}", CallError::from_sdk(&e)))?;
    if out.failed_count().unwrap_or(0) > 0 {
        let why: Vec<String> = out
            .failed_findings()
            .iter()
            .map(|x| {
                format!(
                    "{}: {}",
                    x.error_code().unwrap_or("error"),
                    x.error_message().unwrap_or("")
                )
            })
            .collect();
        return Err(format!(
            "BatchImportFindings refused the finding: {}",
            why.join("; ")
        ));
    }
    let mut answer = format!("imported finding {}", f.id);
    if f.workflow.status == "RESOLVED" {
        let moved = Box::pin(
            client
                .batch_update_findings()
                .finding_identifiers(
                    AwsSecurityFindingIdentifier::builder()
                        .id(&f.id)
                        .product_arn(&f.product_arn)
                        .build(),
                )
                .workflow(
                    WorkflowUpdate::builder()
                        .status(WorkflowStatus::Resolved)
                        .build(),
                )
                .note(
                    NoteUpdate::builder()
                        .text("trailwarden: every response step succeeded")
                        .updated_by("trailwarden")
                        .build(),
                )
                .send(),
        )
        .await;
        match moved {
            Ok(o) if o.unprocessed_findings().is_empty() => answer.push_str(", workflow RESOLVED"),
            Ok(o) => answer.push_str(&format!(
                ", workflow not moved ({})",
                o.unprocessed_findings()
                    .iter()
                    .map(|u| u.error_message().unwrap_or("unprocessed"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            // The import itself (content, and the status of a new finding) succeeded.
            Err(e) => answer.push_str(&format!(
                ", imported as RESOLVED; moving an existing finding's workflow failed: {}",
                CallError::from_sdk(&e)
            )),
        }
    }
    Ok(answer)
}
