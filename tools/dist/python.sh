#!/usr/bin/env bash
# Build the Python SDK's wheel and sdist into $DIST_DIR (default <repo>/dist):
#   pluton-<version>-py3-none-any.whl and pluton-<version>.tar.gz
# with the standard backend (hatchling, declared in sdk/python/pyproject.toml)
# through `python -m build`. Prints the two paths.
#
# The version comes from go/version/VERSION (the single source of the version)
# and is stamped into a temporary copy of sdk/python; the tree is never edited.
# When hatchling and build are installed (tools/setup.sh installs them) the
# build runs with --no-isolation and needs no network; otherwise build
# isolation fetches hatchling from PyPI.
#
# Environment: DIST_DIR (output directory), PYTHON (default python3).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=$(tr -d ' \t\r\n' < "$repo/go/version/VERSION")
if [[ -z $version ]]; then
  echo "python.sh: $repo/go/version/VERSION is empty" >&2
  exit 1
fi
dist=${DIST_DIR:-$repo/dist}
python=${PYTHON:-python3}

if ! "$python" -c 'import build' 2>/dev/null; then
  echo "python.sh: $python has no 'build' module: run tools/setup.sh or '$python -m pip install build hatchling'" >&2
  exit 1
fi
isolation=()
if "$python" -c 'import hatchling' 2>/dev/null; then
  isolation=(--no-isolation --skip-dependency-check)  # hatchling is importable: use it as it is
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A clean copy of the SDK, without caches, build output or Bazel files.
mkdir -p "$work/src"
tar -C "$repo/sdk/python" \
  --exclude=__pycache__ --exclude='*.pyc' --exclude=.pytest_cache --exclude=.mypy_cache --exclude=.ruff_cache \
  --exclude=./build --exclude='*.egg-info' --exclude=./dist --exclude=./BUILD.bazel \
  -cf - . | tar -C "$work/src" -xf -
printf '"""The package version, stamped by tools/dist/python.sh."""\n\n__version__ = "%s"\n' \
  "$version" > "$work/src/src/pluton/_version.py"
# A static version in the copy's pyproject.toml, so that any hatchling
# (Debian's 1.12 included) builds it.
"$python" - "$work/src/pyproject.toml" "$version" <<'PY'
import re
import sys

path, version = sys.argv[1:3]
text = open(path).read()
text = text.replace('dynamic = ["version"]', 'version = "%s"' % version, 1)
text = re.sub(r'\n\[tool\.hatch\.version\]\n(?:[^\[\n][^\n]*\n|#[^\n]*\n|\n)*', "\n", text)
open(path, "w").write(text)
PY

mkdir -p "$dist"
if ! "$python" -m build "${isolation[@]}" --sdist --wheel --outdir "$work/out" "$work/src" > "$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "python.sh: building the wheel and the sdist failed" >&2
  exit 1
fi
wheel="pluton-$version-py3-none-any.whl"
sdist="pluton-$version.tar.gz"
for f in "$wheel" "$sdist"; do
  if [[ ! -f $work/out/$f ]]; then
    cat "$work/build.log" >&2
    echo "python.sh: the build did not produce $f (got: $(ls "$work/out"))" >&2
    exit 1
  fi
  cp "$work/out/$f" "$dist/$f"
  echo "$dist/$f"
done
