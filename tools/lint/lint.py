#!/usr/bin/env python3
"""The lint gate: run every linter of the project and report per tool.

Checks (each one counts as one check, passed or failed):

  gofmt        gofmt -l on every Go file (both modules)
  go-vet       go vet ./... in the library module and in tools/bench
  staticcheck  staticcheck ./... in both modules; the version is pinned in
               tools/lint/go.mod and built into ~/.cache/pluton-lint
  mypy         mypy --strict on sdk/python/src
  ruff         ruff check on sdk/python/src
  phpcs        phpcs --standard=PSR12 on sdk/php/src (errors; PSR-12's
               120-column line limit is a soft one, a warning, not shown)
  perlcritic   perlcritic -4 on sdk/perl/lib
  podchecker   podchecker on every module of sdk/perl/lib
  buildifier   tools/bazel/buildifier.sh (format and lint of the Bazel files)

A tool that is not installed is a failure that says how to get it
(tools/setup.sh installs them all). Prints each tool's findings, then
`lint: N passed, N failed`; exits 1 if any check failed. With --junit FILE it
also writes a JUnit XML report (one testcase per tool), which
tools/test_all.py reads.

Usage: tools/lint/lint.py [--only tool,tool] [--junit FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
GO_DIRS = ["go", "conformance", "tools"]
GO_MODULES = [ROOT, ROOT / "tools/bench"]
# tools/bench/go.mod follows the library's go.mod through `replace ../..`;
# -mod=mod lets it lag a change of the library's requirements.
GO_ENV = {"GOFLAGS": "-mod=mod"}
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pluton-lint"


@dataclass
class Result:
    ok: bool
    output: str
    seconds: float = 0.0


def sh(cmd: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run cmd and return its exit status and combined output."""
    try:
        p = subprocess.run(cmd, check=False, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           errors="replace", env=dict(os.environ, **(env or {})))
    except FileNotFoundError:
        return 127, f"{cmd[0]} is not installed (tools/setup.sh installs it)"
    return p.returncode, p.stdout


def missing(*exes: str) -> Result | None:
    for exe in exes:
        if shutil.which(exe) is None:
            return Result(False, f"{exe} is not installed (tools/setup.sh installs it)")
    return None


def gofmt() -> Result:
    if m := missing("gofmt"):
        return m
    rc, out = sh(["gofmt", "-l"] + GO_DIRS)
    if rc != 0:
        return Result(False, out)
    if out.strip():
        return Result(False, "not gofmt'ed (run gofmt -w on them):\n" + out)
    return Result(True, "")


def go_vet() -> Result:
    if m := missing("go"):
        return m
    outs, ok = [], True
    for mod in GO_MODULES:
        rc, out = sh(["go", "vet", "./..."], cwd=mod, env=GO_ENV if mod != ROOT else None)
        ok = ok and rc == 0
        if out.strip():
            outs.append(f"[{mod.relative_to(ROOT) or '.'}]\n{out}")
    return Result(ok, "".join(outs))


def staticcheck_bin() -> tuple[str | None, str]:
    """Build the staticcheck pinned in tools/lint/go.mod, once per version."""
    mod = (ROOT / "tools/lint/go.mod").read_text()
    version = next((ln.split()[1] for ln in mod.splitlines() if ln.strip().startswith("honnef.co/go/tools ")), "unknown")
    out_dir = CACHE / f"staticcheck-{version}"
    exe = out_dir / "staticcheck"
    if exe.exists():
        return str(exe), ""
    out_dir.mkdir(parents=True, exist_ok=True)
    rc, out = sh(["go", "build", "-o", str(exe), "honnef.co/go/tools/cmd/staticcheck"], cwd=ROOT / "tools/lint")
    if rc != 0:
        return None, "building staticcheck " + version + " failed:\n" + out
    return str(exe), ""


def staticcheck() -> Result:
    if m := missing("go"):
        return m
    exe, err = staticcheck_bin()
    if exe is None:
        return Result(False, err)
    outs, ok = [], True
    for mod in GO_MODULES:
        rc, out = sh([exe, "./..."], cwd=mod, env=GO_ENV if mod != ROOT else None)
        ok = ok and rc == 0
        if out.strip():
            outs.append(f"[{mod.relative_to(ROOT) or '.'}]\n{out}")
    return Result(ok, "".join(outs))


def mypy() -> Result:
    exe = shutil.which("mypy")
    cmd = [exe] if exe else [sys.executable, "-m", "mypy"]
    rc, out = sh(cmd + ["--strict", "--no-incremental", "src"], cwd=ROOT / "sdk/python")
    if rc != 0 and "No module named mypy" in out:
        out = "mypy is not installed (tools/setup.sh installs it)"
    return Result(rc == 0, out if rc != 0 else "")


def ruff() -> Result:
    exe = shutil.which("ruff")
    cmd = [exe] if exe else [sys.executable, "-m", "ruff"]
    rc, out = sh(cmd + ["check", "--no-cache", "src"], cwd=ROOT / "sdk/python")
    if rc != 0 and "No module named ruff" in out:
        out = "ruff is not installed (tools/setup.sh installs it)"
    return Result(rc == 0, out if rc != 0 else "")


def phpcs() -> Result:
    if m := missing("phpcs"):
        return m
    rc, out = sh(["phpcs", "--standard=PSR12", "--report=full", "-q", "-n", "src"], cwd=ROOT / "sdk/php")
    return Result(rc == 0, out)


def perlcritic() -> Result:
    if m := missing("perlcritic"):
        return m
    rc, out = sh(["perlcritic", "-4", "--quiet", "lib"], cwd=ROOT / "sdk/perl")
    return Result(rc == 0, out)


def podchecker() -> Result:
    if m := missing("podchecker"):
        return m
    files = sorted(str(p.relative_to(ROOT / "sdk/perl")) for p in (ROOT / "sdk/perl/lib").rglob("*.p[mo]*")
                   if p.suffix in (".pm", ".pod"))
    rc, out = sh(["podchecker", "-warnings"] + files, cwd=ROOT / "sdk/perl")
    # podchecker exits 2 when a file has no POD at all: a module without
    # documentation is a finding too.
    bad = [ln for ln in out.splitlines() if not ln.endswith("pod syntax OK.")]
    return Result(rc == 0 and not bad, "\n".join(bad))


def buildifier() -> Result:
    rc, out = sh(["bash", "tools/bazel/buildifier.sh"])
    return Result(rc == 0, out)


CHECKS: list[tuple[str, Callable[[], Result]]] = [
    ("gofmt", gofmt),
    ("go-vet", go_vet),
    ("staticcheck", staticcheck),
    ("mypy", mypy),
    ("ruff", ruff),
    ("phpcs", phpcs),
    ("perlcritic", perlcritic),
    ("podchecker", podchecker),
    ("buildifier", buildifier),
]


def write_junit(path: Path, results: list[tuple[str, Result]]) -> None:
    suite = ET.Element("testsuite", name="lint", tests=str(len(results)),
                       failures=str(sum(1 for _, r in results if not r.ok)))
    for name, r in results:
        case = ET.SubElement(suite, "testcase", classname="lint", name=name, time=f"{r.seconds:.3f}")
        if not r.ok:
            failure = ET.SubElement(case, "failure", message=f"{name} found problems")
            failure.text = r.output
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element("testsuites", name="lint")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated checks to run")
    ap.add_argument("--junit", default="", help="write a JUnit XML report to this file")
    args = ap.parse_args()
    only = {x for x in args.only.split(",") if x}
    unknown = only - {name for name, _ in CHECKS}
    if unknown:
        ap.error(f"unknown checks: {', '.join(sorted(unknown))}")
    results: list[tuple[str, Result]] = []
    for name, check in CHECKS:
        if only and name not in only:
            continue
        start = time.monotonic()
        r = check()
        r.seconds = time.monotonic() - start
        results.append((name, r))
        print(f"lint: {name}: {'ok' if r.ok else 'FAILED'} ({r.seconds:.0f}s)", flush=True)
        if not r.ok:
            for line in r.output.rstrip().splitlines()[:200]:
                print(f"    {line}")
    if args.junit:
        write_junit(Path(args.junit), results)
    failed = [name for name, r in results if not r.ok]
    if failed:
        print("lint: failed: " + ", ".join(failed))
    print(f"lint: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
