"""What the chart's Python checks share: named checks that report and count, and commands that
fail loudly."""
import subprocess
import traceback

RESULTS = {"passed": 0, "failed": 0}


def check(name, fn):
    """Runs one named check; a failure is reported and counted, and the next check still runs."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, then counted
        RESULTS["failed"] += 1
        print(f"FAIL {name}: {exc}")
        if not isinstance(exc, AssertionError):
            traceback.print_exc()
    else:
        RESULTS["passed"] += 1
        print(f"ok   {name}")


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def stop(proc, timeout):
    """SIGTERM, then SIGKILL when `proc` has not exited within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def summary():
    """Prints the counts; the exit code for main()."""
    print(f"\n{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0
