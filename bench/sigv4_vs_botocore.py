#!/usr/bin/env python3
"""Signs the same EC2 DescribeImages request with libopsy (bench/sigv4_bench.cc, BM_SignEc2Request)
and with python3-botocore's SigV4Auth, in one run on one machine, and prints both costs and the
ratio: CPU time per signature, and with --instructions also instructions per signature counted by
callgrind (valgrind), which does not depend on what else the machine is doing.

Usage: sigv4_vs_botocore.py BENCH_BINARY [--instructions]
"""
import json
import os
import re
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
    """Instructions a run executes, and those spent inside libcrypto's SHA-256 (SHA256_Update and
    SHA256_Final, which both signers reach through the same shared library)."""
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"] + argv,
                       capture_output=True, text=True, check=True)
        annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                                    out_file], capture_output=True, text=True, check=True).stdout
    total = sha = None
    for line in annotated.splitlines():
        if line.rstrip().endswith("PROGRAM TOTALS"):
            total = int(line.split()[0].replace(",", ""))
        elif re.match(r"\s*[\d,]+\s+\([^)]*\)\s+\?\?\?:SHA256_(Update|Final) \[", line):
            sha = (sha or 0) + int(line.split()[0].replace(",", ""))
    if total is None:
        raise RuntimeError("no callgrind total")
    return total, sha or 0


def per_signature(argv_for):
    """Instructions per signature, total and inside SHA-256: the difference between 400 and 200
    signatures, so start-up, imports and one-time set-up (OpenSSL loading its providers on the
    first digest) cancel out."""
    t2, s2 = callgrind_instructions(argv_for(200))
    t4, s4 = callgrind_instructions(argv_for(400))
    return (t4 - t2) / 200, (s4 - s2) / 200


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
        boto_total, boto_sha = per_signature(
            lambda k: ["/usr/bin/python3", "-c", BOTOCORE_SIGN, str(k), BODY])
        ours_total, ours_sha = per_signature(
            lambda k: [binary, f"--benchmark_filter=BM_SignEc2Request/iterations:{k}$"])
        print(f"Instructions per signature: libopsy {ours_total:,.0f}, botocore {boto_total:,.0f}, "
              f"ratio {boto_total / ours_total:.1f}x")
        # Valgrind does not emulate the SHA extensions, so under callgrind OpenSSL hashes with its
        # generic code; both sides hash the same bytes with the same library, so the signer's own
        # work is what is left.
        print(f"  of which SHA-256 in libcrypto: libopsy {ours_sha:,.0f}, botocore {boto_sha:,.0f}")
        ours_own, boto_own = ours_total - ours_sha, boto_total - boto_sha
        print(f"  signer's own work: libopsy {ours_own:,.0f}, botocore {boto_own:,.0f}, "
              f"ratio {boto_own / ours_own:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
