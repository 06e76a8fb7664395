#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian 12 machine of this
# kind, from the registries it reaches: apt packages (PHP, PHPUnit, Bazel and
# its rule packages, the peers for benchmarks), Go modules, pytest.
# Idempotent: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(php-cli phpunit strace lsof chromium tmux)
apt_packages+=(python3-build python3-hatchling)  # tools/dist/python.sh with the system python3 (Bazel runs the Python suite with it)
apt_packages+=(php-codesniffer libperl-critic-perl)  # make lint (tools/lint/lint.py)
apt_packages+=(libfile-map-perl)  # the Perl SDK maps its stats slot with it (optional: syswrite without it)
if [[ "${PLUTON_BENCH:-}" == 1 ]]; then
  apt_packages+=(php8.2-fpm gunicorn)
fi

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ -f tools/bazel/install.sh ]]; then
  bash tools/bazel/install.sh
fi

command -v go >/dev/null || { echo "setup: go is not installed (expected /usr/local/go)"; exit 1; }
go mod download

python3 -m pytest --version >/dev/null 2>&1 || python3 -m pip install -q pytest
# make lint; staticcheck is built from the version pinned in tools/lint/go.mod.
python3 -m mypy --version >/dev/null 2>&1 || python3 -m pip install -q mypy
python3 -m ruff --version >/dev/null 2>&1 || python3 -m pip install -q ruff
# tools/dist/python.sh: the Python SDK's wheel and sdist (python -m build, hatchling backend).
python3 -c 'import build, hatchling' >/dev/null 2>&1 || python3 -m pip install -q build hatchling
(cd tools/lint && go mod download)
echo "setup: done"
