#!/usr/bin/env bash
# Build the PHP SDK tarball, dist/pluton-php-<version>.tar.gz: a Composer
# package (composer.json with "version" stamped, src/, autoload.php,
# README.md, examples/) under one top directory pluton-php-<version>/.
# Installing it offline is unpacking it; require its autoload.php, or point
# Composer at it.
#
# The version comes from go/version/VERSION (the single source of the version)
# and is stamped into a temporary copy; the tree is never edited. The archive
# is reproducible: sorted names, fixed owner and mtime (SOURCE_DATE_EPOCH, else
# the last commit's time, else 0).
#
# Environment: DIST_DIR (output directory, default <repo>/dist).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=$(tr -d '[:space:]' < "$root/go/version/VERSION")
if [[ -z $version ]]; then
  echo "php.sh: $root/go/version/VERSION is empty" >&2
  exit 1
fi
out=${DIST_DIR:-$root/dist}
name=pluton-php-$version
src=$root/sdk/php

command -v php >/dev/null || { echo "php.sh: php is needed to stamp composer.json" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/$name
mkdir -p "$pkg"
cp -R "$src/src" "$src/examples" "$pkg/"
cp "$src/autoload.php" "$src/README.md" "$src/LICENSE" "$pkg/"

php -r '
    [$_, $in, $outFile, $v] = $argv;
    $j = json_decode(file_get_contents($in), true, 512, JSON_THROW_ON_ERROR);
    $stamped = [];
    foreach ($j as $k => $val) {
        $stamped[$k] = $val;
        if ($k === "name") {
            $stamped["version"] = $v;
        }
    }
    file_put_contents($outFile, json_encode($stamped, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n");
' "$src/composer.json" "$pkg/composer.json" "$version"

# Every file readable, executables (the examples) executable.
find "$pkg" -type d -exec chmod 0755 {} +
find "$pkg" -type f -exec chmod 0644 {} +
find "$pkg/examples" -type f -name '*.php' -exec chmod 0755 {} +

epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}
mkdir -p "$out"
tarball=$out/$name.tar.gz
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    --format=ustar -cf - "$name" | gzip -n -9 > "$tarball.tmp"
mv "$tarball.tmp" "$tarball"
echo "$tarball"
