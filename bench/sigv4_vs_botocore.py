#!/usr/bin/env python3
"""Signs the same EC2 DescribeImages request with libopsy (bench/sigv4_bench.cc, BM_SignEc2Request)
and with python3-botocore's SigV4Auth, in one run on one machine, and prints both costs and the
ratio: CPU time per signature, and with --instructions also instructions per signature counted by
callgrind (valgrind), which does not depend on what else the machine is doing.

Usage: sigv4_vs_botocore.py BENCH_BINARY [--instructions]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

BODY = ("Action=DescribeImages&Version=2016-11-15&Owner.1=self&Filter.1.Name=tag%3Aami.refresh.ops"
        "%2Fbuilder&Filter.1.Value.1=ci%2Fbase-al2023&Filter.2.Name=tag%3Astatus&Filter.2.Value.1="
        "active&MaxResults=1000")

BOTOCORE_SIGN = r'''
import sys, time
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
creds = Credentials("ASIAEXAMPLEEXAMPLE01", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "T" * 800)
body = sys.argv[2]
n = int(sys.argv[1])
start = time.process_time()
for _ in range(n):
    r = AWSRequest(method="POST", url="https://ec2.us-west-2.amazonaws.com/", data=body,
                   headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                            "User-Agent": "packer-builder-controller/0.1.0"})
    SigV4Auth(creds, "ec2", "us-west-2").add_auth(r)
print(time.process_time() - start)
'''


def botocore_cpu_seconds(n):
    out = subprocess.run(["/usr/bin/python3", "-c", BOTOCORE_SIGN, str(n), BODY],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def libopsy_cpu_seconds(binary):
    out = subprocess.run([binary, "--benchmark_filter=BM_SignEc2Request$",
                          "--benchmark_repetitions=5", "--benchmark_format=json"],
                         capture_output=True, text=True, check=True)
    runs = json.loads(out.stdout)["benchmarks"]
    median = [b for b in runs if b.get("aggregate_name") == "median"][0]
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3}[median["time_unit"]]
    return median["cpu_time"] * unit


def callgrind_instructions(argv):
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"] + argv,
                       capture_output=True, text=True, check=True)
        with open(out_file) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(line.split()[1])
    raise RuntimeError("no callgrind summary")


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    n = 2000
    boto = botocore_cpu_seconds(n) / n
    ours = libopsy_cpu_seconds(binary)
    print(f"CPU per signature: libopsy {ours * 1e6:.2f} us, botocore {boto * 1e6:.1f} us, "
          f"ratio {boto / ours:.1f}x")
    if "--instructions" in sys.argv:
        # Instructions for N signatures minus those for none: start-up and imports cancel out.
        k = 200
        boto_i = (callgrind_instructions(["/usr/bin/python3", "-c", BOTOCORE_SIGN, str(k), BODY]) -
                  callgrind_instructions(["/usr/bin/python3", "-c", BOTOCORE_SIGN, "0", BODY])) / k
        ours_i = (callgrind_instructions([binary,
                                          f"--benchmark_filter=BM_SignEc2Request/iterations:{k}$"]) -
                  callgrind_instructions([binary, "--benchmark_filter=NONE"])) / k
        print(f"Instructions per signature: libopsy {ours_i:,.0f}, botocore {boto_i:,.0f}, "
              f"ratio {boto_i / ours_i:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
