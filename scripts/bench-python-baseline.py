#!/usr/bin/env python3
"""The Python baseline of scripts/bench-scan.sh: what a user would write first.

    bench-python-baseline.py FILE.json.gz

`gzip.open` + `json.load` of the whole file, then the CIS AWS Foundations v1.4.0 monitoring
controls 4.1-4.15 (the metric filters' logic, as plain dictionary checks) over every record.
Prints one JSON line: bytes of JSON, records, CPU seconds (process time), MB/s over CPU time,
matches per control and the peak RSS.
"""
import gzip
import json
import resource
import sys
import time

IAM_POLICY = {
    "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy",
    "PutRolePolicy", "PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion",
    "DeletePolicyVersion", "AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy",
    "DetachUserPolicy", "AttachGroupPolicy", "DetachGroupPolicy",
}
TRAIL = {"CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"}
BUCKET = {
    "PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle",
    "PutBucketReplication", "DeleteBucketPolicy", "DeleteBucketCors",
    "DeleteBucketLifecycle", "DeleteBucketReplication",
}
CONFIG = {"StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel",
          "PutConfigurationRecorder"}
SG = {"AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
      "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "CreateSecurityGroup",
      "DeleteSecurityGroup"}
NACL = {"CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl",
        "DeleteNetworkAclEntry", "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation"}
GATEWAY = {"CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway",
           "CreateInternetGateway", "DeleteInternetGateway", "DetachInternetGateway"}
ROUTE = {"CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation",
         "DeleteRouteTable", "DeleteRoute", "DisassociateRouteTable"}
VPC = {"CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection",
       "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection",
       "RejectVpcPeeringConnection", "AttachClassicLinkVpc", "DetachClassicLinkVpc",
       "DisableVpcClassicLink", "EnableVpcClassicLink"}
ORG = {"AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit",
       "CreatePolicy", "DeclineHandshake", "DeleteOrganization", "DeleteOrganizationalUnit",
       "DeletePolicy", "DetachPolicy", "DisablePolicyType", "EnablePolicyType",
       "InviteAccountToOrganization", "LeaveOrganization", "MoveAccount",
       "RemoveAccountFromOrganization", "UpdatePolicy", "UpdateOrganizationalUnit"}


def controls(r):
    name = r.get("eventName")
    source = r.get("eventSource")
    err = r.get("errorCode") or ""
    ident = r.get("userIdentity") or {}
    out = []
    if (err.endswith("UnauthorizedOperation") or err.startswith("AccessDenied")):
        out.append("4.1")
    if (name == "ConsoleLogin" and (r.get("additionalEventData") or {}).get("MFAUsed") != "Yes"
            and (r.get("responseElements") or {}).get("ConsoleLogin") == "Success"):
        out.append("4.2")
    if (ident.get("type") == "Root" and "invokedBy" not in ident
            and r.get("eventType") != "AwsServiceEvent"):
        out.append("4.3")
    if name in IAM_POLICY:
        out.append("4.4")
    if name in TRAIL:
        out.append("4.5")
    if name == "ConsoleLogin" and r.get("errorMessage") == "Failed authentication":
        out.append("4.6")
    if source == "kms.amazonaws.com" and name in ("DisableKey", "ScheduleKeyDeletion"):
        out.append("4.7")
    if source == "s3.amazonaws.com" and name in BUCKET:
        out.append("4.8")
    if source == "config.amazonaws.com" and name in CONFIG:
        out.append("4.9")
    if name in SG:
        out.append("4.10")
    if name in NACL:
        out.append("4.11")
    if name in GATEWAY:
        out.append("4.12")
    if name in ROUTE:
        out.append("4.13")
    if name in VPC:
        out.append("4.14")
    if source == "organizations.amazonaws.com" and name in ORG:
        out.append("4.15")
    return out


def main():
    path = sys.argv[1]
    start = time.process_time()
    with gzip.open(path, "rb") as f:
        raw = f.read()
    records = json.loads(raw)["Records"]
    counts = {}
    for r in records:
        for c in controls(r):
            counts[c] = counts.get(c, 0) + 1
    cpu = time.process_time() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "bytes": len(raw), "records": len(records), "cpu_seconds": round(cpu, 3),
        "mb_per_cpu_s": round(len(raw) / 1e6 / cpu, 1), "matches": counts,
        "peak_rss_mib": round(rss_mib, 1),
    }))


if __name__ == "__main__":
    main()
