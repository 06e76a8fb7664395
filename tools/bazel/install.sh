#!/usr/bin/env bash
# Installs what `bazel test //...` needs on Debian 12, offline but for apt and
# the Go module proxy:
#   * Bazel 4.2.3 (bazel-bootstrap), bazel-skylib and bazel-rules-java (used as
#     local repositories by WORKSPACE);
#   * what the SDK suites run with under Bazel, whose tests see only
#     PATH=/bin:/usr/bin:/usr/local/bin: Debian's python3-pytest (for
#     /usr/bin/python3), php-cli and phpunit (perl and prove come with Debian).
# Idempotent: does nothing when everything is there; runs `apt-get update`
# once, and only when something has to be installed.
#   tools/bazel/install.sh --bazel-only     only the three Bazel packages
#   EXTRA_PACKAGES="..." tools/bazel/install.sh   adds more packages
set -euo pipefail

packages=(bazel-bootstrap bazel-skylib bazel-rules-java)
if [ "${1:-}" != "--bazel-only" ]; then
    packages+=(python3-pytest php-cli phpunit)
fi
# shellcheck disable=SC2206
packages+=(${EXTRA_PACKAGES:-})

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install.sh: already installed: ${packages[*]}"
    exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi
echo "install.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
