#!/usr/bin/env bash
# Fails if `bazel run //:gazelle-update-repos` (go_deps.bzl from go.mod),
# `bazel run //:gazelle` (BUILD files of the Go packages) or
# tools/bazel/sync.py (MODULE.bazel use_repo, go/cmd bin_dir), followed by
# buildifier's formatting (it sorts the loads gazelle writes), would change any
# file. It snapshots every BUILD/BUILD.bazel/WORKSPACE/.bzl file and
# MODULE.bazel, runs them, compares,
# prints a diff of what changed and puts the snapshot back (with --fix it keeps
# gazelle's changes instead). It does not look at git state.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
fix=no
if [ "${1:-}" = "--fix" ]; then
    fix=yes
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="$PATH:/usr/local/go/bin"
fi

snap="$(mktemp -d -t pluton-gazelle-check.XXXXXX)"
trap 'rm -rf "$snap"' EXIT

list_files() {
    find . \( -path ./.git -o -path './bazel-*' -o -name node_modules \) -prune -o \
        -type f \( -name BUILD -o -name BUILD.bazel -o -name WORKSPACE -o -name '*.bzl' -o -name MODULE.bazel \) -print | sort
}

list_files > "$snap/before.list"
while read -r f; do
    mkdir -p "$snap/tree/$(dirname "$f")"
    cp -p "$f" "$snap/tree/$f"
done < "$snap/before.list"

log="$snap/bazel.log"
if ! bazel run //:gazelle-update-repos >"$log" 2>&1 || ! bazel run //:gazelle >>"$log" 2>&1 ||
    ! python3 tools/bazel/sync.py --fix >>"$log" 2>&1 ||
    ! bash tools/bazel/buildifier.sh --fix >>"$log" 2>&1; then
    cat "$log" >&2
    echo "check-gazelle: running gazelle failed" >&2
    exit 1
fi

list_files > "$snap/after.list"
changed=0
while read -r f; do
    if [ ! -e "$snap/tree/$f" ]; then
        echo "check-gazelle: gazelle creates $f" >&2
        diff -u /dev/null "$f" >&2 || true
        changed=1
    elif ! cmp -s "$snap/tree/$f" "$f"; then
        echo "check-gazelle: gazelle changes $f" >&2
        diff -u "$snap/tree/$f" "$f" >&2 || true
        changed=1
    fi
done < "$snap/after.list"
while read -r f; do
    if [ ! -e "$f" ]; then
        echo "check-gazelle: gazelle deletes $f" >&2
        changed=1
    fi
done < "$snap/before.list"

if [ "$changed" = 0 ]; then
    echo "check-gazelle: BUILD files, go_deps.bzl and MODULE.bazel are up to date"
    exit 0
fi
if [ "$fix" = yes ]; then
    echo "check-gazelle: kept gazelle's changes (--fix)" >&2
    exit 0
fi
# Put the snapshot back: this is a check, not a fix.
while read -r f; do
    if [ ! -e "$snap/tree/$f" ]; then
        rm -f "$f"
    fi
done < "$snap/after.list"
while read -r f; do
    mkdir -p "$(dirname "$f")"
    cp -p "$snap/tree/$f" "$f"
done < "$snap/before.list"
echo "check-gazelle: FAILED: run $0 --fix and commit the result" >&2
exit 1
