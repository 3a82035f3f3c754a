"""Counts what .ci/run ran, checks it against tests/inventory.txt and prints the closing line
"N passed, N failed" (skips on the line before it). Exits non-zero on any failure.

Each TAP line of a test's output is one case: "ok" passes, "not ok" fails, "ok ... # SKIP" is a
skip, except GLib's "SKIP by request (-s option)": a case left out of this run because a partner
test runs it (the -tls tests), counted there. A test that crashed, timed out or printed no TAP
fails as a whole. A test or fuzz target the inventory expects that did not run fails; so does one
meson defines that the inventory does not list (it would go unwatched).

usage: tally.py INVENTORY BUILD_DIR ASAN_DIR FUZZ_RESULTS FAILED_STEPS
"""
import json
import re
import subprocess
import sys

inventory_path, build, asan, fuzz_results, failed_steps = sys.argv[1:6]
builds = {"build": build, "asan": asan}
passed = failed = skipped = 0
problems = []
skips = []

expected_tests, expected_fuzz = {}, []
for line in open(inventory_path):
    words = line.split("#", 1)[0].split()
    if not words:
        continue
    if words[0] == "test":
        expected_tests[words[1]] = words[2:]
    elif words[0] == "fuzz":
        expected_fuzz.append(words[1])


def introspect(build_dir, what):
    try:
        out = subprocess.run(["meson", "introspect", build_dir, what], capture_output=True,
                             text=True, check=True).stdout
        return json.loads(out)
    except (subprocess.CalledProcessError, json.JSONDecodeError, OSError) as e:
        problems.append(f"cannot read what meson defines in {build_dir}: {e}")
        return []


for key, build_dir in builds.items():
    defined = {t["name"] for t in introspect(build_dir, "--tests")}
    wanted = {name for name, where in expected_tests.items() if key in where}
    for name in sorted(defined - wanted):
        problems.append(f"{build_dir}: test {name} is not in {inventory_path}")
    for name in sorted(wanted - defined):
        problems.append(f"{build_dir}: test {name} is in {inventory_path} but meson does not "
                        "define it")
    ran = {}
    try:
        for line in open(f"{build_dir}/meson-logs/testlog.json"):
            test = json.loads(line)
            ran[test["name"].split(" / ")[-1]] = test  # "camcast:unit / NAME"
    except OSError:
        problems.append(f"{build_dir}: no test log (the tests did not run)")
    for name in sorted(wanted):
        test = ran.get(name)
        if test is None:
            problems.append(f"{build_dir}: test {name} did not run")
            continue
        out = test.get("stdout", "")
        ok = not_ok = skip = 0
        for m in re.finditer(r"^(not )?ok \d+[^\n]*", out, re.M):
            text = m.group(0)
            if m.group(1):
                not_ok += 1
            elif "# SKIP by request (-s option)" in text:
                continue
            elif re.search(r"#\s*SKIP", text, re.I):
                skip += 1
                skips.append(f"{build_dir}: {name}: {text}")
            else:
                ok += 1
        if test["result"] not in ("OK", "EXPECTEDFAIL") and not_ok == 0:
            not_ok = 1  # crashed, timed out or printed no TAP: the program as a whole failed
        if ok + not_ok + skip == 0:
            problems.append(f"{build_dir}: test {name} ran no case")
        passed += ok
        failed += not_ok
        skipped += skip

defined_fuzz = {t["name"] for t in introspect(asan, "--targets") if t["name"].startswith("fuzz-")}
for name in sorted(defined_fuzz - set(expected_fuzz)):
    problems.append(f"fuzz target {name} is not in {inventory_path}")
results = {}
try:
    for line in open(fuzz_results):
        name, result = line.split()[:2]
        results[name] = result
except OSError:
    pass
for name in expected_fuzz:
    if name not in defined_fuzz:
        problems.append(f"fuzz target {name} is in {inventory_path} but meson does not define it")
    result = results.get(name)
    if result == "ok":
        passed += 1
    elif result is None:
        problems.append(f"fuzz target {name} did not run")
    else:
        failed += 1

failed += len(problems)  # each problem is one failure
if int(failed_steps) and failed == 0:
    failed = int(failed_steps)
for p in problems:
    print(f"not ok: {p}")
for s in skips:
    print(f"skipped: {s}")
print(f"{skipped} skipped")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
