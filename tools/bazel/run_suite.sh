#!/usr/bin/env bash
# run_suite.sh LANG: runs one SDK's own test suite under `bazel test`
# (sh_test in sdk/LANG/BUILD.bazel), the way a developer runs it:
#   python  cd sdk/python && python3 -m pytest -q
#   php     cd sdk/php && phpunit
#   perl    cd sdk/perl && prove -lr t
# Bazel starts tests in the workspace directory of their runfiles, a tree of
# read-only symlinks; the suites build tarballs and resolve paths from their
# own location, so they run in a real, writable copy of those runfiles in
# $TEST_TMPDIR. Go commands, when the test has //go/cmd:bin as data, are in
# $PLUTON_BIN. Each writes $XML_OUTPUT_FILE itself (one testcase per test).
set -uo pipefail

lang="$1"
root="$PWD"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
tree="$tmp/tree"
rm -rf "$tree"
mkdir -p "$tree"
tar -C "$root" --exclude=./go/cmd/bin -chf - . | tar -C "$tree" -xf - || exit 1
if [ -d "$root/go/cmd/bin" ]; then
    export PLUTON_BIN="$root/go/cmd/bin"
fi
export HOME="${HOME:-$tmp/home}"
mkdir -p "$HOME"
cd "$tree/sdk/$lang" || exit 1

case "$lang" in
python)
    exec /usr/bin/python3 -m pytest -q -p no:cacheprovider ${XML_OUTPUT_FILE:+--junitxml="$XML_OUTPUT_FILE"}
    ;;
php)
    exec phpunit ${XML_OUTPUT_FILE:+--log-junit "$XML_OUTPUT_FILE"}
    ;;
perl)
    log="$tmp/prove.log"
    prove -lrv t 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ -n "${XML_OUTPUT_FILE:-}" ]; then
        # TAP to JUnit: one testcase per "ok"/"not ok" line of each t/*.t file.
        /usr/bin/python3 - "$log" "$XML_OUTPUT_FILE" "$rc" <<'PY'
import re, sys
from xml.sax.saxutils import quoteattr
log, out, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
cases, current = [], "t"
for line in open(log, errors="replace"):
    m = re.match(r"^(t/\S+\.t) \.+", line)
    if m:
        current = m.group(1)
        continue
    m = re.match(r"^(not )?ok \d+(?: - (.*?))?\s*(#\s*(?:TODO|SKIP).*)?$", line.rstrip("\n"))
    if m:
        failed = bool(m.group(1)) and not (m.group(3) or "").lstrip("# ").upper().startswith("TODO")
        cases.append((current, m.group(2) or "", failed))
if not cases or (rc and not any(f for _, _, f in cases)):
    cases.append(("prove", "prove exit status %d" % rc, rc != 0))
fails = sum(1 for c in cases if c[2])
with open(out, "w") as f:
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
    f.write('<testsuite name="perl" tests="%d" failures="%d" errors="0">\n' % (len(cases), fails))
    for cls, name, failed in cases:
        f.write("<testcase classname=%s name=%s>" % (quoteattr(cls), quoteattr(name)))
        if failed:
            f.write('<failure message="not ok"/>')
        f.write("</testcase>\n")
    f.write("</testsuite>\n</testsuites>\n")
PY
    fi
    exit "$rc"
    ;;
*)
    echo "run_suite.sh: unknown SDK $lang" >&2
    exit 2
    ;;
esac
