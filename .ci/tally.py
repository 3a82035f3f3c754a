"""Counts what .ci/run ran, checks it against tests/inventory.txt and prints the closing line
"N passed, N failed" (skips on the line before it). Exits non-zero on any failure.

Each TAP line of a test's output is one case: "ok" passes, "not ok" fails, "ok ... # SKIP" is a
skip, except GLib's "SKIP by request (-s option)": a case left out of this run because a partner
test runs it (the -tls tests), counted there. A test that crashed, timed out or printed no TAP
fails as a whole. A test or fuzz target the inventory expects that did not run fails; so does one
meson defines that the inventory does not list (it would go unwatched). So do cases: each case
the inventory lists under a test must have run in it (in every build of the test), every case a
test ran must be listed, and a case left out with -s must have run in another test of that build.
A case is named as its TAP line names it, without the number, the " - " and a trailing "# ..."
(and, for the README's, without the "README.md:LINE: " its line number changes with every edit).

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

expected_tests, expected_fuzz, expected_cases = {}, [], {}
for line in open(inventory_path):
    if line.startswith("case "):  # "case TEST NAME": the name to the end of the line, as it is
        _, test, name = line.rstrip("\n").split(" ", 2)
        expected_cases.setdefault(test, set()).add(name.strip())
        continue
    words = line.split("#", 1)[0].split()
    if not words:
        continue
    if words[0] == "test":
        expected_tests[words[1]] = words[2:]
    elif words[0] == "fuzz":
        expected_fuzz.append(words[1])


def case_name(tap_line):
    """ "ok 3 - README.md:120: openssl makes a certificate # x" -> "openssl makes a certificate" """
    name = re.sub(r"^(not )?ok \d+ (- )?", "", tap_line)
    name = re.sub(r"\s+#.*$", "", name)
    return re.sub(r"^README\.md:\d+: ", "", name).strip()


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
    cases_run, cases_left_out = set(), []  # this build's
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
        names = set()
        for m in re.finditer(r"^(not )?ok \d+[^\n]*", out, re.M):
            text = m.group(0)
            if "# SKIP by request (-s option)" in text:
                cases_left_out.append((name, case_name(text)))
                continue
            names.add(case_name(text))
            if m.group(1):
                not_ok += 1
            elif re.search(r"#\s*SKIP", text, re.I):
                skip += 1
                skips.append(f"{build_dir}: {name}: {text}")
            else:
                ok += 1
        if test["result"] not in ("OK", "EXPECTEDFAIL") and not_ok == 0:
            not_ok = 1  # crashed, timed out or printed no TAP: the program as a whole failed
        if ok + not_ok + skip == 0:
            problems.append(f"{build_dir}: test {name} ran no case")
        elif test["result"] in ("OK", "EXPECTEDFAIL"):  # a crash says enough already
            listed = expected_cases.get(name, set())
            for case in sorted(listed - names):
                problems.append(f"{build_dir}: {name}: case \"{case}\" did not run")
            for case in sorted(names - listed):
                problems.append(f"{build_dir}: {name}: case \"{case}\" is not in "
                                f"{inventory_path} (add: case {name} {case})")
        cases_run |= names
        passed += ok
        failed += not_ok
        skipped += skip
    for name, case in cases_left_out:
        if case not in cases_run:
            problems.append(f"{build_dir}: {name} left out \"{case}\" (-s) and no other test ran it")

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
