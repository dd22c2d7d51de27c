#!/usr/bin/env python3
"""The fake's failure answers as botocore reads them.

botocore is an implementation independent of this project: it signs with its own SigV4, and its
parsers read each protocol's error documents (EC2 query, awsQuery, REST-JSON) against the service
models it ships. Each check runs a real botocore client against a fake-aws binary and asserts
what botocore raises: the code, HTTP status, message and, where the model names the error, the
modelled exception class. A request for a region the fake does not serve must fail the way a
region whose endpoint does not exist fails: a connection error, no HTTP answer.

Usage: botocore_failure_shapes.py <path to fake-aws>. Exits 77 (skipped) without botocore.
"""
import json
import subprocess
import sys
import urllib.request

try:
    import botocore.config
    import botocore.exceptions
    import botocore.session
except ImportError:
    print("botocore is not installed (python3-botocore); skipped")
    sys.exit(77)

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
USER = "arn:aws:iam::123456789012:user/fake-user"
TOPIC = "arn:aws:sns:us-east-1:123456789012:opsy-events"
SEED = {
    "snsTopics": [TOPIC],
    "sesIdentities": ["example.com"],
    "images": [{"id": "ami-0123456789abcdef0", "name": "base"}],
    "nodegroups": [{"cluster": "prod", "name": "ng-a"}],
    "autoScalingGroups": [{"name": "asg-a"}],
}


class Checks:
    def __init__(self, url):
        self.url = url
        self.session = botocore.session.get_session()
        self.passed = 0
        self.failed = 0

    def seed(self, doc):
        req = urllib.request.Request(self.url + "/_fake/seed", data=json.dumps(doc).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as res:
            assert res.status == 204, res.status

    def deny(self, action):
        self.seed({"faults": [{"deny": action, "count": 1}]})

    def client(self, service, region="us-east-1"):
        config = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                        connect_timeout=5, read_timeout=5)
        return self.session.create_client(service, region_name=region, endpoint_url=self.url,
                                          aws_access_key_id=ACCESS_KEY,
                                          aws_secret_access_key=SECRET_KEY, config=config)

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")

    def error(self, name, call, code, status, message=None, contains=None, modelled=None,
              members=None):
        """`call` must raise a ClientError botocore parsed as `code` and `status`."""
        try:
            call()
        except botocore.exceptions.ClientError as e:
            err = e.response.get("Error", {})
            meta = e.response.get("ResponseMetadata", {})
            got = (err.get("Code"), meta.get("HTTPStatusCode"))
            self.check(name + " code/status", got == (code, status), f"{got} != {(code, status)}")
            self.check(name + " request id", bool(meta.get("RequestId")), str(meta))
            text = err.get("Message", "")
            if message is not None:
                self.check(name + " message", text == message, repr(text))
            if contains is not None:
                self.check(name + " message", contains in text, repr(text))
            if modelled is not None:
                self.check(name + " modelled exception", isinstance(e, modelled),
                           type(e).__name__)
            for key, value in (members or {}).items():
                self.check(name + " member " + key, e.response.get(key) == value,
                           repr(e.response.get(key)))
            return
        except Exception as e:  # noqa: BLE001 - anything else is the failure being reported
            self.check(name, False, f"raised {type(e).__name__}: {e}")
            return
        self.check(name, False, "no error")


def denials(c):
    ec2 = c.client("ec2")
    c.deny("ec2:DescribeImages")
    c.error("ec2 read denied", lambda: ec2.describe_images(Owners=["self"]),
            "UnauthorizedOperation", 403,
            message="You are not authorized to perform this operation. User: " + USER +
            " is not authorized to perform: ec2:DescribeImages because no identity-based policy "
            "allows the ec2:DescribeImages action")
    c.deny("ec2:CreateTags")
    c.error("ec2 change denied",
            lambda: ec2.create_tags(Resources=["ami-0123456789abcdef0"],
                                    Tags=[{"Key": "k", "Value": "v"}]),
            "UnauthorizedOperation", 403, contains=". Encoded authorization failure message: ")

    asg = c.client("autoscaling")
    c.deny("autoscaling:DescribeAutoScalingGroups")
    c.error("autoscaling denied", lambda: asg.describe_auto_scaling_groups(), "AccessDenied", 403,
            message="User: " + USER + " is not authorized to perform: "
            "autoscaling:DescribeAutoScalingGroups because no identity-based policy allows the "
            "autoscaling:DescribeAutoScalingGroups action")

    sns = c.client("sns")
    c.deny("sns:Publish")
    c.error("sns denied", lambda: sns.publish(TopicArn=TOPIC, Message="hi"), "AuthorizationError",
            403, contains="SNS:Publish on resource: " + TOPIC,
            modelled=sns.exceptions.AuthorizationErrorException)

    eks = c.client("eks", "us-west-2")
    c.deny("eks:DescribeNodegroup")
    c.error("eks denied", lambda: eks.describe_nodegroup(clusterName="prod", nodegroupName="ng-a"),
            "AccessDeniedException", 403,
            contains="eks:DescribeNodegroup on resource: "
            "arn:aws:eks:us-west-2:123456789012:nodegroup/prod/ng-a/",
            modelled=eks.exceptions.AccessDeniedException)

    ses = c.client("sesv2")
    c.deny("ses:SendEmail")
    c.error("ses denied",
            lambda: ses.send_email(FromEmailAddress="opsy@example.com",
                                   Destination={"ToAddresses": ["ops@example.com"]},
                                   Content={"Simple": {"Subject": {"Data": "s"},
                                                       "Body": {"Text": {"Data": "b"}}}}),
            "AccessDeniedException", 403,
            contains="ses:SendEmail on resource: arn:aws:ses:us-east-1:123456789012:identity/"
            "example.com")

    sts = c.client("sts")
    c.deny("sts:AssumeRoleWithWebIdentity")
    c.error("sts web identity denied",
            lambda: sts.assume_role_with_web_identity(
                RoleArn="arn:aws:iam::123456789012:role/opsy", RoleSessionName="opsy",
                WebIdentityToken="fake-web-identity-token"),
            "AccessDenied", 403, message="Not authorized to perform sts:AssumeRoleWithWebIdentity")
    c.seed({"faults": [{"service": "sts", "kind": "access-denied", "count": 1}]})
    try:
        arn = sts.get_caller_identity()["Arn"]
        c.check("sts GetCallerIdentity cannot be denied", arn == USER, arn)
    except Exception as e:  # noqa: BLE001
        c.check("sts GetCallerIdentity cannot be denied", False, str(e))


def not_found(c):
    eks = c.client("eks", "us-west-2")
    c.error("eks unknown cluster", lambda: eks.describe_cluster(name="nope"),
            "ResourceNotFoundException", 404, message="No cluster found for name: nope.",
            modelled=eks.exceptions.ResourceNotFoundException, members={"clusterName": "nope"})
    c.error("eks unknown cluster's node groups", lambda: eks.list_nodegroups(clusterName="nope"),
            "ResourceNotFoundException", 404, message="No cluster found for name: nope.",
            modelled=eks.exceptions.ResourceNotFoundException)
    c.error("eks unknown node group",
            lambda: eks.describe_nodegroup(clusterName="prod", nodegroupName="zzz"),
            "ResourceNotFoundException", 404, message="No node group found for name: zzz.",
            modelled=eks.exceptions.ResourceNotFoundException,
            members={"clusterName": "prod", "nodegroupName": "zzz"})

    ec2 = c.client("ec2")
    c.error("ec2 unknown launch template id",
            lambda: ec2.describe_launch_templates(LaunchTemplateIds=["lt-0000000000000dead"]),
            "InvalidLaunchTemplateId.NotFound", 400)
    c.error("ec2 unknown launch template name",
            lambda: ec2.describe_launch_templates(LaunchTemplateNames=["gone"]),
            "InvalidLaunchTemplateName.NotFoundException", 400)

    asg = c.client("autoscaling")
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["gone"])
    c.check("autoscaling unknown group lists nothing", groups["AutoScalingGroups"] == [],
            str(groups))
    c.error("autoscaling refresh of unknown group",
            lambda: asg.start_instance_refresh(AutoScalingGroupName="gone"), "ValidationError",
            400, contains="AutoScalingGroup name not found")

    sns = c.client("sns")
    c.error("sns unknown topic",
            lambda: sns.publish(TopicArn="arn:aws:sns:us-east-1:123456789012:gone", Message="x"),
            "NotFound", 404, modelled=sns.exceptions.NotFoundException)


def instances(c):
    """DescribeInstances as botocore parses it: the seeded node group's instances, then its errors."""
    ec2 = c.client("ec2")
    res = ec2.describe_instances(Filters=[{"Name": "tag:eks:nodegroup-name", "Values": ["ng-a"]}])
    found = [i for r in res["Reservations"] for i in r["Instances"]]
    c.check("ec2 instances of a node group", len(found) == 2, str(res))
    first = found[0] if found else {}
    c.check("ec2 instance state", first.get("State") == {"Code": 16, "Name": "running"},
            str(first))
    c.check("ec2 instance placement and host name",
            first.get("Placement", {}).get("AvailabilityZone") == "us-east-1a"
            and first.get("PrivateDnsName", "").endswith(".ec2.internal")
            and "LaunchTime" in first, str(first))
    c.check("ec2 instance tags", {"Key": "eks:nodegroup-name", "Value": "ng-a"}
            in first.get("Tags", []), str(first))
    c.error("ec2 unknown instance",
            lambda: ec2.describe_instances(InstanceIds=["i-0000000000000dead"]),
            "InvalidInstanceID.NotFound", 400,
            message="The instance ID 'i-0000000000000dead' does not exist")
    c.error("ec2 malformed instance id", lambda: ec2.describe_instances(InstanceIds=["i-123"]),
            "InvalidInstanceID.Malformed", 400, message='Invalid id: "i-123"')
    c.error("ec2 instance ids with MaxResults",
            lambda: ec2.describe_instances(InstanceIds=[first.get("InstanceId", "i-1")],
                                           MaxResults=5),
            "InvalidParameterCombination", 400,
            message="The parameter instancesSet cannot be used with the parameter maxResults")
    c.deny("ec2:DescribeInstances")
    c.error("ec2 instances denied", lambda: ec2.describe_instances(), "UnauthorizedOperation", 403,
            contains="is not authorized to perform: ec2:DescribeInstances because no "
            "identity-based policy allows the ec2:DescribeInstances action")


def regions(c):
    for service, call in [("ec2", lambda cl: cl.describe_images(Owners=["self"])),
                          ("sts", lambda cl: cl.get_caller_identity())]:
        name = f"{service} in an unknown region"
        try:
            call(c.client(service, "ap-east-1"))
            c.check(name, False, "answered")
        # A region that does not exist fails to resolve (EndpointConnectionError); sharing one
        # port, the fake can only close the connection unanswered (ConnectionClosedError). Both
        # are connection failures botocore retries, neither carries an HTTP status.
        except (botocore.exceptions.EndpointConnectionError,
                botocore.exceptions.ConnectionClosedError):
            c.check(name, True)
        except Exception as e:  # noqa: BLE001
            c.check(name, False, f"raised {type(e).__name__}: {e}")
    # The same call in a served region is answered.
    try:
        c.client("sts", "eu-west-1").get_caller_identity()
        c.check("sts in a served region", True)
    except Exception as e:  # noqa: BLE001
        c.check("sts in a served region", False, str(e))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    fake = subprocess.Popen([sys.argv[1], "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        url = fake.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            print(f"fake-aws did not start: {url!r}")
            return 1
        c = Checks(url)
        c.seed(SEED)
        denials(c)
        not_found(c)
        instances(c)
        regions(c)
    finally:
        fake.terminate()
        fake.wait(timeout=30)
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
