#!/usr/bin/env python3
"""Run every test suite of the project once and print one `N passed, N failed` line.

Each suite runs as a subprocess; its output is shown and kept under
test-results/<suite>.log. Counts come from JUnit XML wherever the runner writes
it (pytest --junitxml, phpunit --log-junit, the lint gate, Bazel's test.xml
through tools/bazel/test.sh); go test is read from its -json event stream and
prove from its TAP lines (both structured, line-based formats; see
docs/development.md). A suite that exits non-zero without any counted
failure counts as one failure, so a crash can never pass silently.

Who runs what, so that each suite runs once: Bazel builds every target and
runs only //conformance/... (the user's entry point); go test runs every other
Go package natively (and conformance too when Bazel is not installed); the
SDK suites run natively.

Usage: tools/test_all.py [--only suite,suite] [--skip suite,suite]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "test-results"


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)


def parse_go_json(out: str) -> Counts:
    """Count test and subtest results from `go test -json`; a package that fails
    to build or fails outside any test counts once."""
    c = Counts()
    failed_pkgs_with_tests: set[str] = set()
    pkg_fail: list[str] = []
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        action, test, pkg = ev.get("Action"), ev.get("Test"), ev.get("Package", "")
        if test:
            if action == "pass":
                c.passed += 1
            elif action == "fail":
                c.failed += 1
                c.failures.append(f"{pkg} {test}")
                failed_pkgs_with_tests.add(pkg)
            elif action == "skip":
                c.skipped += 1
        elif action == "fail":
            pkg_fail.append(pkg)
    for pkg in pkg_fail:
        if pkg not in failed_pkgs_with_tests:
            c.failed += 1
            c.failures.append(f"{pkg} (package failed: build error, panic or TestMain)")
    return c


def parse_junit(path: Path) -> Counts | None:
    """Count the testcases of a JUnit XML report: a testcase with a failure
    or error element failed, one with a skipped element was skipped. None if
    the report is missing or unreadable."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    c = Counts()
    for tc in root.iter("testcase"):
        name = ".".join(x for x in (tc.get("classname", ""), tc.get("name", "")) if x)
        if tc.find("failure") is not None or tc.find("error") is not None:
            c.failed += 1
            c.failures.append(name)
        elif tc.find("skipped") is not None:
            c.skipped += 1
        else:
            c.passed += 1
    return c


def parse_pytest(out: str) -> Counts:
    c = Counts()
    for line in reversed(out.splitlines()):
        if re.search(r"\b(passed|failed|error|errors|skipped|no tests ran)\b", line) and (" in " in line or "=" in line):
            for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", line):
                if word == "passed":
                    c.passed = int(n)
                elif word == "skipped":
                    c.skipped = int(n)
                else:
                    c.failed += int(n)
            break
    c.failures = [l for l in out.splitlines() if l.startswith(("FAILED ", "ERROR "))]
    return c


def parse_phpunit(out: str) -> Counts:
    c = Counts()
    m = re.search(r"OK \((\d+) tests?", out)
    if m:
        c.passed = int(m.group(1))
    else:
        m = re.search(r"Tests: (\d+)", out)
        if m:
            total = int(m.group(1))
            bad = sum(int(x) for x in re.findall(r"(?:Failures|Errors): (\d+)", out))
            skipped = sum(int(x) for x in re.findall(r"(?:Skipped|Incomplete): (\d+)", out))
            c.failed, c.skipped = bad, skipped
            c.passed = max(total - bad - skipped, 0)
    c.failures = re.findall(r"^\d+\) (.+)$", out, re.MULTILINE)
    return c


def parse_tap(out: str) -> Counts:
    c = Counts()
    for line in out.splitlines():
        s = line.strip()
        m = re.match(r"(not )?ok \d+(.*)$", s)
        if not m:
            continue
        rest = m.group(2)
        if "# skip" in rest.lower():
            c.skipped += 1
        elif m.group(1) and "# todo" not in rest.lower():
            c.failed += 1
            c.failures.append(s)
        else:
            c.passed += 1
    return c


def parse_bazel(out: str) -> Counts:
    c = Counts()
    m = re.findall(r"^bazel: (\d+) passed, (\d+) failed", out, re.MULTILINE)
    if m:
        c.passed, c.failed = int(m[-1][0]), int(m[-1][1])
    c.failures = re.findall(r"^//\S+\s+FAILED.*$", out, re.MULTILINE)
    return c


def parse_single(out: str) -> Counts:
    return Counts()  # decided by the exit code alone


@dataclass
class Suite:
    name: str
    cmd: list[str]
    cwd: Path
    parse: Callable[[str], Counts]
    needs: list[str] = field(default_factory=list)  # executables that must exist
    env: dict[str, str] = field(default_factory=dict)
    single: bool = False  # a check that counts as one test
    junit: Path | None = None  # JUnit XML report the runner writes; counted instead of parse


def go_packages() -> list[str]:
    """The library module's packages for the native go test run: all of them
    but conformance, which Bazel runs, unless Bazel is not installed."""
    if shutil.which("bazel") is None:
        return ["./..."]
    try:
        out = subprocess.run(["go", "list", "./..."], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ["./..."]  # go test then reports the error itself
    return [p for p in out.split() if "/conformance" not in p] or ["./..."]


def suites() -> list[Suite]:
    bin_dir = str(ROOT / "bin")
    env = {"PLUTON_BIN": bin_dir}
    go_test = ["go", "test", "-json", "-count=1", "-timeout", "15m"]
    return [
        Suite("lint", [sys.executable, "tools/lint/lint.py", "--junit", str(RESULTS / "lint.xml")], ROOT, parse_single,
              [], junit=RESULTS / "lint.xml"),
        Suite("go", go_test + go_packages(), ROOT, parse_go_json, ["go"], env),
        # -mod=mod: tools/bench/go.mod follows the library's go.mod (replace ../..)
        # even when a change of the library's requirements has not been tidied into it yet.
        Suite("go-tools", go_test + ["./..."], ROOT / "tools/bench", parse_go_json, ["go"],
              dict(env, GOFLAGS="-mod=mod")),
        Suite("go-fuzz", ["go", "test", "-run", "^$", "-fuzz", "FuzzDecoder", "-fuzztime", "20s", "-parallel", "1",
                          "./go/protocol/"], ROOT, parse_single, ["go"], single=True),
        Suite("python", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                         "--junitxml=" + str(RESULTS / "python.xml")], ROOT / "sdk/python",
              parse_pytest, [], env, junit=RESULTS / "python.xml"),
        Suite("php", ["phpunit", "--log-junit", str(RESULTS / "php.xml")], ROOT / "sdk/php", parse_phpunit,
              ["phpunit"], env, junit=RESULTS / "php.xml"),
        Suite("perl", ["prove", "-lrv", "t"], ROOT / "sdk/perl", parse_tap, ["prove"], env),
        Suite("bazel", ["bash", "tools/bazel/test.sh"], ROOT, parse_bazel, ["bazel"],
              {"PLUTON_BAZEL_TESTS": "//conformance/..."}),
        Suite("gazelle", ["bash", "tools/bazel/check-gazelle.sh"], ROOT, parse_single, ["bazel"], single=True),
    ]


def present(s: Suite) -> str | None:
    """Return why a suite cannot run, or None."""
    if not s.cwd.is_dir():
        return f"{s.cwd.relative_to(ROOT)} does not exist"
    for exe in s.needs:
        if shutil.which(exe) is None:
            return f"{exe} is not installed"
    script = next((a for a in s.cmd if a.startswith("tools/")), None)
    if script and not (ROOT / script).exists():
        return f"{script} does not exist"
    return None


def run(s: Suite) -> Counts:
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / f"{s.name}.log"
    print(f"\n=== suite {s.name}: {' '.join(s.cmd)} (in {s.cwd.relative_to(ROOT) or '.'})", flush=True)
    start = time.monotonic()
    env = dict(os.environ, **s.env)
    if s.junit is not None:
        s.junit.unlink(missing_ok=True)  # never count a report of an earlier run
    with open(log, "w") as f:
        proc = subprocess.Popen(s.cmd, cwd=s.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            f.write(line)
            lines.append(line)
            if s.parse is parse_go_json:
                show_go_event(line)
            else:
                sys.stdout.write(line)
        rc = proc.wait()
    out = "".join(lines)
    c = s.parse(out)
    if s.junit is not None:
        from_xml = parse_junit(s.junit)
        if from_xml is not None:
            c = from_xml
    if s.single:
        c = Counts(passed=1) if rc == 0 else Counts(failed=1, failures=[f"{s.name} exited {rc}"])
    elif rc != 0 and c.failed == 0:
        c.failed = 1
        c.failures.append(f"{s.name} exited {rc} without a parsable failure (see {log.relative_to(ROOT)})")
    elif rc == 0 and c.passed == 0 and c.failed == 0:
        c.failed = 1
        c.failures.append(f"{s.name} ran no test")
    print(f"=== suite {s.name}: {c.passed} passed, {c.failed} failed, {c.skipped} skipped "
          f"({time.monotonic() - start:.0f}s; log {log.relative_to(ROOT)})", flush=True)
    return c


def show_go_event(line: str) -> None:
    """Print go test -json output the way plain go test would, but terser."""
    try:
        ev = json.loads(line)
    except json.JSONDecodeError:
        sys.stdout.write(line)
        return
    action = ev.get("Action")
    if action == "output":
        text = ev.get("Output", "")
        shown = ev.get("Test") is None or text.startswith(("--- FAIL", "    ")) or "FAIL" in text or "MEASURED" in text
        if shown and not text.startswith(("=== RUN", "=== PAUSE", "=== CONT", "--- PASS", "PASS\n")):
            sys.stdout.write(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated suites to run")
    ap.add_argument("--skip", default="", help="comma-separated suites to skip")
    args = ap.parse_args()
    only = {x for x in args.only.split(",") if x}
    skip = {x for x in args.skip.split(",") if x}
    total = Counts()
    rows = []
    for s in suites():
        if (only and s.name not in only) or s.name in skip:
            continue
        why = present(s)
        if why:
            print(f"\n=== suite {s.name}: not run ({why})")
            rows.append((s.name, "not run: " + why))
            if os.environ.get("CI"):
                total.failed += 1
                total.failures.append(f"{s.name}: not run ({why})")
            continue
        c = run(s)
        total.passed += c.passed
        total.failed += c.failed
        total.skipped += c.skipped
        total.failures += [f"{s.name}: {x}" for x in c.failures]
        rows.append((s.name, f"{c.passed} passed, {c.failed} failed, {c.skipped} skipped"))
    print("\n=== summary")
    for name, text in rows:
        print(f"  {name:12} {text}")
    if total.failures:
        print("failures:")
        for f in total.failures[:50]:
            print("  " + f)
    print(f"{total.passed} passed, {total.failed} failed, {total.skipped} skipped")
    return 1 if total.failed else 0


if __name__ == "__main__":
    sys.exit(main())
