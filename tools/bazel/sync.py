#!/usr/bin/env python3
"""Keeps the hand-kept lists of the Bazel files in step with the tree.

1. MODULE.bazel's use_repo(go_deps, ...) lists exactly the go_deps.bzl
   repositories that the project's BUILD files use.
2. go/cmd/BUILD.bazel's bin_dir lists every go_binary of go/cmd/*/.

  sync.py          exit 1 (and say why) if something is stale
  sync.py --fix    rewrite the stale lists
Run by tools/bazel/check-gazelle.sh after gazelle.
"""

import glob
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN_DIR_BUILD = """load("//tools/bazel:bin_dir.bzl", "bin_dir")

# Every command of go/cmd in one directory, as `go build -o DIR/ ./go/cmd/...`
# lays them out: tests and SDK suites get it as PLUTON_BIN (see
# tools/bazel/go.bzl). The list is kept by tools/bazel/sync.py.
bin_dir(
    name = "bin",
    binaries = [
    ],
    visibility = ["//visibility:public"],
)
"""


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def build_files():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel = os.path.relpath(dirpath, ROOT)
        dirnames[:] = sorted(d for d in dirnames if d not in (".git", "node_modules")
                             and not (rel == "." and d.startswith("bazel-"))
                             and not (rel == "tools" and d == "bazel"))
        for name in filenames:
            if name in ("BUILD", "BUILD.bazel"):
                yield os.path.join(rel, name)


def replace_list(text, pattern, items, indent):
    """Replaces the quoted items of the list that group 1 of pattern matches."""
    m = re.search(pattern, text, re.S)
    if not m:
        return None, None
    have = re.findall(r'"([^"]+)"', m.group(1))
    body = "\n" + "".join('%s"%s",\n' % (indent, i) for i in items) + indent[:-4]
    return have, text[:m.start(1)] + body + text[m.end(1):]


def sync_module(fix):
    declared = set(re.findall(r'go_repository\(\s*name = "([^"]+)"', read("go_deps.bzl")))
    used = set()
    for path in build_files():
        used.update(r for r in re.findall(r'"@([A-Za-z0-9_.]+)//', read(path)) if r in declared)
    want = sorted(used)
    text = read("MODULE.bazel")
    have, new = replace_list(text, r"use_repo\(\s*go_deps,(.*?)\)", want, "    ")
    if have is None:
        sys.exit("sync.py: MODULE.bazel has no use_repo(go_deps, ...)")
    return check("MODULE.bazel", "use_repo(go_deps, ...)", have, want, new, fix)


def sync_bin_dir(fix):
    want = []
    for path in sorted(glob.glob(os.path.join(ROOT, "go", "cmd", "*", "BUILD.bazel"))):
        pkg = os.path.relpath(os.path.dirname(path), ROOT)
        for name in re.findall(r'go_binary\(\s*name = "([^"]+)"', read(path)):
            want.append("//%s:%s" % (pkg, name) if name != os.path.basename(pkg) else "//" + pkg)
    path = os.path.join("go", "cmd", "BUILD.bazel")
    if os.path.exists(os.path.join(ROOT, path)):
        text = read(path)
    elif want:
        text = BIN_DIR_BUILD
    else:
        return 0
    have, new = replace_list(text, r"binaries = \[(.*?)\]", want, "        ")
    if have is None:
        sys.exit("sync.py: %s has no bin_dir binaries list" % path)
    if text is BIN_DIR_BUILD:
        have = None
    return check(path, "bin_dir binaries", have, want, new, fix)


def check(path, what, have, want, new, fix):
    if have == want:
        return 0
    if not fix:
        print("sync.py: %s %s is %s, should be %s" % (path, what, have, want), file=sys.stderr)
        return 1
    with open(os.path.join(ROOT, path), "w") as f:
        f.write(new)
    print("sync.py: updated %s %s" % (path, what), file=sys.stderr)
    return 0


def main():
    fix = sys.argv[1:] == ["--fix"]
    return 1 if sync_module(fix) + sync_bin_dir(fix) else 0


if __name__ == "__main__":
    sys.exit(main())
