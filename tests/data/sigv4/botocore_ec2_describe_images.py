#!/usr/bin/env python3
"""Regenerates botocore_ec2_describe_images.json: botocore's SigV4 signature for a realistic EC2
DescribeImages POST made with temporary credentials, used as a cross-check of opsy's signer.

Run from this folder: python3 botocore_ec2_describe_images.py > botocore_ec2_describe_images.json
"""
import datetime
import json
from unittest import mock

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "ASIAQEXAMPLE7EXAMPLE"
SECRET_KEY = "d0Xz2/OpsyFixtureSecret+NotARealKey/EXAMPLE"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEFixtureSessionToken//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+EXAMPLE=="
WHEN = datetime.datetime(2026, 11, 21, 5, 35, 0, tzinfo=datetime.timezone.utc)
URL = "https://ec2.eu-west-1.amazonaws.com/"
BODY = ("Action=DescribeImages&Version=2016-11-15&Owner.1=self&Owner.2=602401143452"
        "&Filter.1.Name=name&Filter.1.Value.1=amazon-eks-node-al2023-x86_64-standard-1.30%2A"
        "&Filter.2.Name=tag%3Astatus&Filter.2.Value.1=active&IncludeDeprecated=true"
        "&MaxResults=100")
HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    "User-Agent": "opsy-ami-operator/0.1.0",
}

request = AWSRequest(method="POST", url=URL, data=BODY, headers=dict(HEADERS))
signer = botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "ec2",
                                 "eu-west-1")
with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN.replace(tzinfo=None)):
    request.context["timestamp"] = WHEN.strftime(botocore.auth.SIGV4_TIMESTAMP)
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    signature = signer.signature(string_to_sign, request)

print(json.dumps({
    "botocore_version": botocore.__version__,
    "access_key_id": ACCESS_KEY,
    "secret_access_key": SECRET_KEY,
    "session_token": SESSION_TOKEN,
    "timestamp": WHEN.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "region": "eu-west-1",
    "service": "ec2",
    "method": "POST",
    "url": URL,
    "body": BODY,
    "headers": HEADERS,
    "canonical_request": canonical,
    "string_to_sign": string_to_sign,
    "signature": signature,
}, indent=2))
