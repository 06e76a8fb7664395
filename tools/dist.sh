#!/usr/bin/env bash
# Build the vendorable SDK tarballs into dist/ (or $DIST_DIR):
# the Python wheel and sdist (pluton-<v>-py3-none-any.whl, pluton-<v>.tar.gz), the PHP
# tarball (pluton-php-<v>.tar.gz) and the CPAN dist (Pluton-<v>.tar.gz).
set -euo pipefail
cd "$(dirname "$0")/.."
export DIST_DIR="${DIST_DIR:-$PWD/dist}"
mkdir -p "$DIST_DIR"
for lang in python php perl; do
  bash "tools/dist/$lang.sh"
done
ls -l "$DIST_DIR"
