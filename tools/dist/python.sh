#!/usr/bin/env bash
# Build the Python SDK's source distribution, dist/pluton-python-<version>.tar.gz.
#
# The version comes from go/version/VERSION (the single source of the version)
# and is stamped into a temporary copy of sdk/python; the tree is never edited.
# The tarball is a regular sdist (top-level directory pluton-python-<version>/)
# that `pip install --no-build-isolation --no-index <tarball>` installs offline
# with the machine's setuptools.
#
# Environment: DIST_DIR (output directory, default <repo>/dist), PYTHON
# (default python3).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=$(tr -d ' \t\r\n' < "$repo/go/version/VERSION")
if [[ -z $version ]]; then
  echo "python.sh: $repo/go/version/VERSION is empty" >&2
  exit 1
fi
dist=${DIST_DIR:-$repo/dist}
python=${PYTHON:-python3}
name=pluton-python-$version

# pyproject.toml's [project] table needs setuptools 61 or later.
if ! "$python" -c '
import sys
import setuptools
sys.exit(tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (61, 0))' 2>/dev/null; then
  echo "python.sh: $python needs setuptools >= 61 to build the sdist" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A clean copy of the SDK, without caches, build output or notes.
mkdir -p "$work/src"
tar -C "$repo/sdk/python" \
  --exclude=__pycache__ --exclude='*.pyc' --exclude=.pytest_cache \
  --exclude=./build --exclude='*.egg-info' --exclude=./dist --exclude=./BUILD.bazel \
  -cf - . | tar -C "$work/src" -xf -
printf '"""The package version, stamped by tools/dist/python.sh."""\n\n__version__ = "%s"\n' \
  "$version" > "$work/src/src/pluton/_version.py"

# setuptools builds the sdist; it is then repacked under the directory $name/.
mkdir -p "$work/out" "$dist"
(cd "$work/src" && "$python" -c '
import sys
from setuptools import build_meta
print(build_meta.build_sdist(sys.argv[1]))' "$work/out") > "$work/sdist-name" 2> "$work/build.log" || {
  cat "$work/build.log" >&2
  echo "python.sh: building the sdist failed" >&2
  exit 1
}
sdist="$work/out/$(tail -n 1 "$work/sdist-name")"

"$python" - "$sdist" "$dist/$name.tar.gz" "$name" <<'PY'
import sys
import tarfile

source, target, top = sys.argv[1:4]
with tarfile.open(source, "r:gz") as src, tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT) as dst:
    for member in src.getmembers():
        data = src.extractfile(member) if member.isfile() else None
        head, sep, rest = member.name.partition("/")
        member.name = top + sep + rest
        dst.addfile(member, data)
PY
echo "$dist/$name.tar.gz"
