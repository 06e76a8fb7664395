#!/usr/bin/env bash
# Checks every Bazel file of the repository (WORKSPACE, MODULE.bazel, BUILD,
# BUILD.bazel, *.bzl) with buildifier in check mode, lint warnings included.
# Prints nothing and exits 0 when all is well.
#   tools/bazel/buildifier.sh          check
#   tools/bazel/buildifier.sh --fix    reformat and fix lint in place
# buildifier comes from the npm package @bazel/buildifier, installed on first
# use into $BUILDIFIER_CACHE (default ~/.cache/pluton-buildifier), outside the
# repository.
set -euo pipefail

version=8.2.1
cache="${BUILDIFIER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pluton-buildifier}"
bin="$cache/node_modules/@bazel/buildifier/buildifier-linux_amd64"
case "$(uname -m)" in
    aarch64 | arm64) bin="$cache/node_modules/@bazel/buildifier/buildifier-linux_arm64" ;;
esac

if [ ! -x "$bin" ] || ! grep -q "\"version\": \"$version\"" "$cache/node_modules/@bazel/buildifier/package.json" 2>/dev/null; then
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-save --no-audit --no-fund --loglevel=error \
        "@bazel/buildifier@$version" >&2
    chmod +x "$bin"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mapfile -t files < <(find . \( -path ./.git -o -path './bazel-*' -o -name node_modules \) -prune -o \
    -type f \( -name WORKSPACE -o -name WORKSPACE.bazel -o -name WORKSPACE.bzlmod -o -name MODULE.bazel \
    -o -name BUILD -o -name BUILD.bazel -o -name '*.bzl' \) -print | sort)

if [ "${1:-}" = "--fix" ]; then
    exec "$bin" -lint=fix "${files[@]}"
fi
exec "$bin" -mode=check -lint=warn "${files[@]}"
