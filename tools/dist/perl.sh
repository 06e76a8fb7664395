#!/usr/bin/env bash
# Builds the Perl SDK's CPAN distribution: $DIST_DIR/Pluton-<version>.tar.gz
#
#   DIST_DIR=/some/dir tools/dist/perl.sh      (DIST_DIR defaults to <repo>/dist)
#
# The version is read from go/version/VERSION, the single source of the
# version (PLUTON_DIST_VERSION overrides it, for tests), and stamped into the
# modules of a temporary copy of the files listed in sdk/perl/MANIFEST; the
# tree is never edited. The tarball is ExtUtils::MakeMaker's own
# (`perl Makefile.PL && make dist`), with META.json, META.yml, MANIFEST,
# LICENSE and Changes; it unpacks to Pluton-<version>/, where
# `perl Makefile.PL && make && make test && make install` works.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
src=$root/sdk/perl
out=${DIST_DIR:-$root/dist}

version=${PLUTON_DIST_VERSION:-$(tr -d '[:space:]' < "$root/go/version/VERSION")}
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "perl.sh: version '$version' is not N.N.N" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
work=$tmp/sdk

# Copy exactly the files of the MANIFEST (first word of each line).
while read -r file _; do
    [[ -z $file || $file == \#* ]] && continue
    if [[ ! -f $src/$file ]]; then
        echo "perl.sh: $file is in MANIFEST but missing from sdk/perl" >&2
        exit 1
    fi
    mkdir -p "$work/$(dirname "$file")"
    cp -p "$src/$file" "$work/$file"
done < "$src/MANIFEST"

# Stamp the version into every module of the copy.
find "$work/lib" -name '*.pm' -print0 |
    xargs -0 sed -i -E "s/^our \\\$VERSION = '[^']*';/our \$VERSION = '$version';/"
sed -i -E "s/^[0-9]+\.[0-9]+\.[0-9]+ \(the release/$version (the release/" "$work/lib/Pluton.pm"
if ! grep -q "^our \$VERSION = '$version';" "$work/lib/Pluton.pm"; then
    echo "perl.sh: could not stamp the version into lib/Pluton.pm" >&2
    exit 1
fi

# MakeMaker's dist, reproducible: fixed owner, order and times.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
(
    cd "$work"
    unset PERL_MM_OPT PERL_MB_OPT MAKEFLAGS MAKELEVEL MFLAGS
    perl Makefile.PL > "$tmp/build.log" 2>&1
    make dist TARFLAGS="--sort=name --owner=0 --group=0 --numeric-owner --mtime=@$epoch -cf" \
        >> "$tmp/build.log" 2>&1
) || { cat "$tmp/build.log" >&2; echo "perl.sh: make dist failed" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
cp "$work/Pluton-$version.tar.gz" "$out/Pluton-$version.tar.gz"
echo "$out/Pluton-$version.tar.gz"
