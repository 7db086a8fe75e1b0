#!/usr/bin/env python3
"""Writes events/logs/<CloudTrail log file name>.json.gz: a small CloudTrail log file with
mixed records, reproducibly (fixed content, gzip header without name or time).

Records, in file order (account 123456789012, us-east-1, 2024-08-01 13:30-13:35 UTC):
  root console sign-in without MFA, root ListBuckets, root call made by AWS Support
  (invokedBy: not root usage per CIS 4.3), alice's sign-in with MFA, bob's without MFA,
  an IAM Identity Center sign-in (MFAUsed "No" because MFA happened at the IdP), five failed
  sign-ins for unknown user names within two minutes and one for carol, three refused calls
  (Client.UnauthorizedOperation, AccessDenied, and a HeadBucket that CIS 4.1 leaves out),
  a world-open SSH rule added by Terraform, an IAM user created, StopLogging, a KMS key
  rotation service event with no userIdentity.type, an AssumeRole by Lambda, an S3 data
  event and a DescribeInstances with null parameters.

Run from the repository root: python3 scripts/make-log-fixture.py
"""
import gzip
import io
import json
import os

ACCOUNT = "123456789012"
NAME = f"{ACCOUNT}_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz"
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36")
CLI = ("aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.1.97-104.177.amzn2023.x86_64 "
       "md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard")
TF = ("APN/1.0 HashiCorp/1.0 Terraform/1.9.3 (+https://www.terraform.io) "
      "terraform-provider-aws/5.61.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
      "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.172.0")
TLS = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}


def tls(host):
    return dict(TLS, clientProvidedHostHeader=host)


ROOT = {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT, "accessKeyId": ""}


def iam_user(name, pid):
    return {"type": "IAMUser", "principalId": pid, "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "accountId": ACCOUNT, "accessKeyId": "", "userName": name}


def role_session(role, session, key, mfa="false", path=""):
    return {
        "type": "AssumedRole", "principalId": f"AROAQX3EXAMPLE7ROLE42:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT, "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAQX3EXAMPLE7ROLE42",
                              "arn": f"arn:aws:iam::{ACCOUNT}:role/{path}{role}",
                              "accountId": ACCOUNT, "userName": role},
            "attributes": {"creationDate": "2024-08-01T13:02:11Z", "mfaAuthenticated": mfa},
        },
    }


def console_login(time, ident, eid, ok, mfa, ip="203.0.113.24", extra=None):
    r = {
        "eventVersion": "1.09", "userIdentity": ident, "eventTime": time,
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": CHROME,
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success" if ok else "Failure"},
        "additionalEventData": dict({
            "LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_c1b2f8e3a0d4b5c6",
            "MobileVersion": "No", "MFAUsed": "Yes" if mfa else "No"}, **(extra or {})),
        "eventID": eid, "readOnly": False, "eventType": "AwsConsoleSignIn",
        "managementEvent": True, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management", "tlsDetails": tls("signin.aws.amazon.com"),
    }
    if not ok:
        r["errorMessage"] = "Failed authentication"
    return r


def api(time, ident, source, name, eid, rid, ip, agent, req=None, resp=None, read_only=False,
        error=None, region="us-east-1", host=None):
    r = {
        "eventVersion": "1.09", "userIdentity": ident, "eventTime": time,
        "eventSource": source, "eventName": name, "awsRegion": region,
        "sourceIPAddress": ip, "userAgent": agent,
    }
    if error:
        r["errorCode"], r["errorMessage"] = error
    r.update({
        "requestParameters": req, "responseElements": resp, "requestID": rid, "eventID": eid,
        "readOnly": read_only, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": ACCOUNT, "eventCategory": "Management",
    })
    if host:
        r["tlsDetails"] = tls(host)
    return r


HIDDEN = {"type": "IAMUser", "accountId": ACCOUNT, "accessKeyId": "",
          "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}

records = [
    console_login("2024-08-01T13:30:05Z", ROOT, "5e0c1f8a-2b7d-4c39-9a61-0f3e8d2b7c41", True, False,
                  ip="198.51.100.77"),
    api("2024-08-01T13:30:42Z", ROOT, "s3.amazonaws.com", "ListBuckets",
        "a7f4c2d9-3e81-4b6a-8c05-91d2e7f3b6a8", "9KX3T1VQ8ZJ4M2RD", "198.51.100.77", CHROME,
        req={"Host": "s3.us-east-1.amazonaws.com"}, read_only=True, host="s3.us-east-1.amazonaws.com"),
    api("2024-08-01T13:30:44Z", dict(ROOT, invokedBy="support.amazonaws.com"), "iam.amazonaws.com",
        "GetAccountSummary", "0b9e6d21-74c3-4f1a-b8e2-5d6c7a8f9e10", "6f1d2c3b-4a59-4e8d-9c7b-1a2b3c4d5e6f",
        "support.amazonaws.com", "support.amazonaws.com", read_only=True),
    console_login("2024-08-01T13:31:02Z", iam_user("alice", "AIDAQX3EXAMPLEALICE01"),
                  "c3d8e1f2-6a47-4b90-8d1e-2f3a4b5c6d7e", True, True, ip="192.0.2.10",
                  extra={"MfaType": "Virtual MFA"}),
    console_login("2024-08-01T13:31:15Z", iam_user("bob", "AIDAQX3EXAMPLEBOB0002"),
                  "d4e9f203-7b58-4ca1-9e2f-3a4b5c6d7e8f", True, False, ip="192.0.2.11"),
    console_login("2024-08-01T13:31:20Z",
                  role_session("AWSReservedSSO_AdministratorAccess_4c1d2e3f4a5b6c7d",
                               "dana@example.com", "", path="aws-reserved/sso.amazonaws.com/"),
                  "e5fa0314-8c69-4db2-af30-4b5c6d7e8f90", True, False, ip="192.0.2.12"),
]
for i, sec in enumerate([0, 18, 37, 55, 71]):
    m, s = divmod(32 * 60 + sec, 60)
    records.append(console_login(f"2024-08-01T13:{m:02d}:{s:02d}Z", HIDDEN,
                                 f"f6{i}b1425-9d7a-4ec3-b041-5c6d7e8f90a{i}", False, False,
                                 ip="45.155.205.233"))
# A failed sign-in of an existing user keeps the user name but carries no ARN.
carol = iam_user("carol", "AIDAQX3EXAMPLECAROL3")
del carol["arn"]
records.append(console_login("2024-08-01T13:33:30Z", carol, "07c1d2e3-f4a5-4b6c-8d7e-9f0a1b2c3d4e",
                             False, False, ip="192.0.2.13"))

ci = role_session("github-actions-deploy", "gha-run-10293847", "ASIAQX3EXAMPLEGHA001")
tf = role_session("terraform", "tf-plan-apply", "ASIAQX3EXAMPLETF0001", path="ci/")
records += [
    api("2024-08-01T13:33:41Z", ci, "ec2.amazonaws.com", "RunInstances",
        "18d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", "3b1c9e2a-7d4f-4a6b-9c8d-2e1f0a3b4c5d", "20.42.73.118",
        TF, error=("Client.UnauthorizedOperation", "You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/github-actions-deploy/gha-run-10293847 is not authorized to perform: ec2:RunInstances on resource: arn:aws:ec2:us-east-1:123456789012:instance/* because no identity-based policy allows the ec2:RunInstances action."),
        req={"instancesSet": {"items": [{"imageId": "ami-0ae8f15ae66fe8cda", "minCount": 1, "maxCount": 1}]},
             "instanceType": "t3.micro", "disableApiTermination": False, "clientToken": "terraform-20240801133340"},
        host="ec2.us-east-1.amazonaws.com"),
    api("2024-08-01T13:33:52Z", dict(iam_user("ci-legacy", "AIDAQX3EXAMPLECILEG4"), accessKeyId="AKIAQX3EXAMPLECILEG4"),
        "iam.amazonaws.com", "ListUsers", "29e3f4a5-b6c7-4d8e-9f0a-1b2c3d4e5f60",
        "4c2d0f3b-8e5a-4b7c-ad9e-3f2a1b4c5d6e", "52.94.133.131", CLI,
        error=("AccessDenied", "User: arn:aws:iam::123456789012:user/ci-legacy is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::123456789012:user/ because no identity-based policy allows the iam:ListUsers action"),
        read_only=True, host="iam.amazonaws.com"),
    api("2024-08-01T13:33:58Z", dict(iam_user("ci-legacy", "AIDAQX3EXAMPLECILEG4"), accessKeyId="AKIAQX3EXAMPLECILEG4"),
        "s3.amazonaws.com", "HeadBucket", "3af4a5b6-c7d8-4e9f-8a1b-2c3d4e5f6071",
        "QH2R8N5W1T7Y3K6P", "52.94.133.131", CLI, error=("AccessDenied", "Access Denied"),
        req={"bucketName": "payments-exports-123456789012", "Host": "payments-exports-123456789012.s3.us-east-1.amazonaws.com"},
        read_only=True, host="payments-exports-123456789012.s3.us-east-1.amazonaws.com"),
    api("2024-08-01T13:34:05Z", tf, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
        "4b05b6c7-d8e9-4f0a-9b2c-3d4e5f607182", "5d3e1a4c-9f6b-4c8d-be0f-4a3b2c5d6e7f", "20.42.73.118", TF,
        req={"groupId": "sg-0a1b2c3d4e5f60718", "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "temporary ssh"}]},
            "ipv6Ranges": {}, "prefixListIds": {}}]}},
        resp={"requestId": "5d3e1a4c-9f6b-4c8d-be0f-4a3b2c5d6e7f", "_return": True,
              "securityGroupRuleSet": {"items": [{"groupOwnerId": ACCOUNT, "groupId": "sg-0a1b2c3d4e5f60718",
                  "securityGroupRuleId": "sgr-0f1e2d3c4b5a69788", "isEgress": False, "ipProtocol": "tcp",
                  "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0", "description": "temporary ssh"}]}},
        host="ec2.us-east-1.amazonaws.com"),
    api("2024-08-01T13:34:11Z", tf, "iam.amazonaws.com", "CreateUser",
        "5c16c7d8-e9f0-4a1b-8c3d-4e5f60718293", "6e4f2b5d-0a7c-4d9e-8f1a-5b4c3d6e7f80", "20.42.73.118", TF,
        req={"userName": "backup-svc", "tags": []},
        resp={"user": {"path": "/", "userName": "backup-svc", "userId": "AIDAQX3EXAMPLEBACKUP5",
                       "arn": "arn:aws:iam::123456789012:user/backup-svc", "createDate": "Aug 1, 2024 1:34:11 PM"}},
        host="iam.amazonaws.com"),
    api("2024-08-01T13:34:30Z", ci, "cloudtrail.amazonaws.com", "StopLogging",
        "6d27d8e9-f0a1-4b2c-9d4e-5f6071829304", "7f5a3c6e-1b8d-4eaf-9a2b-6c5d4e7f8091", "20.42.73.118", CLI,
        req={"name": "arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events"},
        host="cloudtrail.us-east-1.amazonaws.com"),
    {
        "eventVersion": "1.09",
        "userIdentity": {"accountId": ACCOUNT, "invokedBy": "kms.amazonaws.com"},
        "eventTime": "2024-08-01T13:34:40Z", "eventSource": "kms.amazonaws.com",
        "eventName": "RotateKey", "awsRegion": "us-east-1", "sourceIPAddress": "kms.amazonaws.com",
        "userAgent": "kms.amazonaws.com", "requestParameters": None, "responseElements": None,
        "eventID": "7e38e9f0-a1b2-4c3d-8e5f-607182930415", "readOnly": False,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key",
                       "ARN": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
        "eventType": "AwsServiceEvent", "managementEvent": True, "recipientAccountId": ACCOUNT,
        "serviceEventDetails": {"keyRotationStatus": "Success"}, "eventCategory": "Management",
    },
    api("2024-08-01T13:34:47Z", {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"},
        "sts.amazonaws.com", "AssumeRole", "8f49f0a1-b2c3-4d4e-9f60-718293041526",
        "80a6b4d7-2c9e-4fb0-8a3c-7d6e5f809102", "lambda.amazonaws.com", "lambda.amazonaws.com",
        req={"roleArn": "arn:aws:iam::123456789012:role/lambda-thumbnailer", "roleSessionName": "lambda-thumbnailer"},
        resp={"credentials": {"accessKeyId": "ASIAQX3EXAMPLELAMBDA1", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD",
                              "expiration": "Aug 1, 2024, 2:34:47 PM"}},
        read_only=True),
    dict(api("2024-08-01T13:34:52Z", role_session("lambda-thumbnailer", "lambda-thumbnailer", "ASIAQX3EXAMPLELAMBDA1"),
             "s3.amazonaws.com", "GetObject", "9050a1b2-c3d4-4e5f-a071-829304152637", "T8M4J2X6V9R1K5N3",
             "3.91.171.25", "[aws-sdk-go-v2/1.30.3]",
             req={"bucketName": "media-uploads-123456789012", "Host": "media-uploads-123456789012.s3.us-east-1.amazonaws.com",
                  "key": "uploads/2024/08/01/cat photo.jpg"},
             read_only=True, host="media-uploads-123456789012.s3.us-east-1.amazonaws.com"),
         additionalEventData={"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                              "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
                              "x-amz-id-2": "Zk9oX3VwbG9hZHMvMjAyNC8wOC8wMS9jYXQgcGhvdG8uanBnEXAMPLE=", "bytesTransferredOut": 48213},
         resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::media-uploads-123456789012/uploads/2024/08/01/cat photo.jpg"},
                    {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::media-uploads-123456789012"}],
         managementEvent=False, eventCategory="Data"),
    api("2024-08-01T13:34:58Z", ci, "ec2.amazonaws.com", "DescribeInstances",
        "a161b2c3-d4e5-4f60-8182-930415263748", "91b7c5e8-3daf-40c1-9b4d-8e7f6a910213", "20.42.73.118", CLI,
        req=None, resp=None, read_only=True, host="ec2.us-east-1.amazonaws.com"),
]

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, "events", "logs", NAME)
os.makedirs(os.path.dirname(out), exist_ok=True)
body = json.dumps({"Records": records}, separators=(",", ":")).encode()
buf = io.BytesIO()
with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
    gz.write(body)
with open(out, "wb") as f:
    f.write(buf.getvalue())
print(f"{out}: {len(records)} records, {len(body)} bytes of JSON, {len(buf.getvalue())} bytes gzip")
