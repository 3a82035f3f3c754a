"""Counts test cases across meson's test logs (each TAP line is one case) plus extra results,
prints 'N passed, N failed' and exits non-zero on any failure."""
import json
import re
import sys

extra_passed, extra_failed, failed_steps = (int(x) for x in sys.argv[1:4])
passed, failed = extra_passed, extra_failed
for path in sys.argv[4:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        print(f"missing test log {path}")
        failed += 1
        continue
    for line in lines:
        test = json.loads(line)
        ok = len(re.findall(r"^ok \d+", test.get("stdout", ""), re.M))
        not_ok = len(re.findall(r"^not ok \d+", test.get("stdout", ""), re.M))
        if test["result"] not in ("OK", "EXPECTEDFAIL", "SKIP") and not_ok == 0:
            not_ok = 1  # crashed, timed out or printed no TAP: the program as a whole failed
        if ok + not_ok == 0:
            ok = 1
        passed += ok
        failed += not_ok
if failed == 0 and failed_steps:
    failed = failed_steps
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
