#!/usr/bin/env bash
# Runs every Bazel test of the workspace and prints one summary line
#   bazel: N passed, N failed
# counted from the test.xml files of this run's test targets: every testcase
# counts, a target whose test.xml has no testcase counts as one, and a test
# target that did not run (e.g. failed to build) counts as one failure, and so
# does a build failure outside the tests.
# Exits non-zero if anything failed. Extra arguments go to `bazel test`.
# PLUTON_BAZEL_TESTS (default //...) selects the test targets; when it is
# set to anything else, every target is still built first (`bazel build
# //...`), and a build failure counts as one failure. tools/test_all.py sets
# it to //conformance/... so that each suite runs once per `make test`.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v bazel >/dev/null 2>&1; then
    bash tools/bazel/install.sh || exit 1
fi

bep="$(mktemp -t pluton-bazel-bep.XXXXXX.json)"
trap 'rm -f "$bep"' EXIT

read -r -a tests <<<"${PLUTON_BAZEL_TESTS:-//...}"
build_rc=0
if [ "${tests[*]}" != "//..." ]; then
    bazel build //... --keep_going "$@"
    build_rc=$?
fi
bazel test "${tests[@]}" --keep_going --test_output=errors --build_event_json_file="$bep" "$@"
rc=$?

python3 - "$bep" "$rc" "$build_rc" <<'PY'
import json, sys, urllib.parse, urllib.request
import xml.etree.ElementTree as ET

bep_path, rc, build_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
targets = set()          # test targets that were asked for
attempts = {}            # (label, run, shard) -> (attempt, status, xml path)
with open(bep_path) as f:
    for line in f:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        eid = ev.get("id", {})
        if "targetCompleted" in eid or "targetConfigured" in eid:
            kind = ev.get("configured", {}).get("targetKind", "")
            if kind.endswith(" test") or kind.endswith("_test rule"):
                targets.add((eid.get("targetConfigured") or eid["targetCompleted"])["label"])
        if "testResult" in eid:
            t = eid["testResult"]
            key = (t["label"], t.get("run", 1), t.get("shard", 1))
            res = ev.get("testResult", {})
            xml = None
            for out in res.get("testActionOutput", []):
                if out.get("name") == "test.xml":
                    xml = urllib.parse.urlparse(out["uri"]).path
            attempt = t.get("attempt", 1)
            if key not in attempts or attempts[key][0] <= attempt:
                attempts[key] = (attempt, res.get("status", ""), xml)

passed = failed = 0
ran = set()
for (label, _, _), (_, status, xml) in sorted(attempts.items()):
    ran.add(label)
    ok = status in ("PASSED", "FLAKY")
    cases = fails = 0
    if xml:
        try:
            root = ET.parse(xml).getroot()
            for tc in root.iter("testcase"):
                cases += 1
                if tc.find("failure") is not None or tc.find("error") is not None:
                    fails += 1
        except (OSError, ET.ParseError):
            cases = fails = 0
    if cases == 0:
        cases, fails = 1, (0 if ok else 1)
    elif not ok and fails == 0:
        fails = 1            # e.g. a timeout or a crash outside any testcase
        cases = max(cases, 1)
    passed += cases - fails
    failed += fails
for label in sorted(targets - ran):
    print("test.sh: %s did not run" % label, file=sys.stderr)
    failed += 1
if rc not in (0, 3, 4) and not (targets - ran):
    print("test.sh: bazel exited with %d (a build failure outside the tests)" % rc, file=sys.stderr)
    failed += 1

if build_rc != 0:
    print("test.sh: bazel build //... exited with %d" % build_rc, file=sys.stderr)
    failed += 1

print("bazel: %d passed, %d failed" % (passed, failed))
# bazel exit codes: 0 ok, 3 tests failed, 4 no test targets.
sys.exit(1 if failed or rc not in (0, 3, 4) else 0)
PY
