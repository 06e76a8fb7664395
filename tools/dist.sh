#!/usr/bin/env bash
# Build the vendorable SDK tarballs into dist/ (or $DIST_DIR):
# pluton-python-<v>.tar.gz, pluton-php-<v>.tar.gz, Pluton-<v>.tar.gz.
set -euo pipefail
cd "$(dirname "$0")/.."
export DIST_DIR="${DIST_DIR:-$PWD/dist}"
mkdir -p "$DIST_DIR"
for lang in python php perl; do
  bash "tools/dist/$lang.sh"
done
ls -l "$DIST_DIR"
