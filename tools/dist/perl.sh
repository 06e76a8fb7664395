#!/usr/bin/env bash
# Builds the Perl SDK tarball: $DIST_DIR/Pluton-<version>.tar.gz
#
#   DIST_DIR=/some/dir tools/dist/perl.sh      (DIST_DIR defaults to <repo>/dist)
#
# The version is read from go/version/VERSION, the single source of the
# version (PLUTON_DIST_VERSION overrides it, for tests), and stamped into the
# modules of a temporary copy of sdk/perl; the tree is never edited. Only the
# files listed in sdk/perl/MANIFEST go in. The result unpacks to
# Pluton-<version>/, where `perl Makefile.PL && make test` runs the suite.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
src=$root/sdk/perl
out=${DIST_DIR:-$root/dist}

version=${PLUTON_DIST_VERSION:-$(tr -d '[:space:]' < "$root/go/version/VERSION")}
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "perl.sh: version '$version' is not N.N.N" >&2
    exit 1
fi

name=Pluton-$version
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/$name"

# Copy exactly the files of the MANIFEST (first word of each line).
while read -r file _; do
    [[ -z $file || $file == \#* ]] && continue
    if [[ ! -f $src/$file ]]; then
        echo "perl.sh: $file is in MANIFEST but missing from sdk/perl" >&2
        exit 1
    fi
    mkdir -p "$tmp/$name/$(dirname "$file")"
    cp -p "$src/$file" "$tmp/$name/$file"
done < "$src/MANIFEST"

# Stamp the version into every module of the copy.
find "$tmp/$name/lib" -name '*.pm' -print0 |
    xargs -0 sed -i -E "s/^our \\\$VERSION = '[^']*';/our \$VERSION = '$version';/"
sed -i -E "s/^[0-9]+\.[0-9]+\.[0-9]+ \(the release/$version (the release/" "$tmp/$name/lib/Pluton.pm"
if ! grep -q "^our \$VERSION = '$version';" "$tmp/$name/lib/Pluton.pm"; then
    echo "perl.sh: could not stamp the version into lib/Pluton.pm" >&2
    exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
tar -C "$tmp" --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime="@${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}" \
    -cf - "$name" | gzip -9n > "$out/$name.tar.gz"
echo "$out/$name.tar.gz"
