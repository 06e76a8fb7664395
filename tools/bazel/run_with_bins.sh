#!/bin/sh
# run_with_bins.sh TEST BIN_DIR [ARGS...]: runs the test binary TEST with
# PLUTON_BIN set to the absolute path of BIN_DIR (both runfiles paths, relative
# to the workspace directory of the runfiles, where Bazel starts tests).
# Used by go_test in tools/bazel/go.bzl.
test_bin="$1"
PLUTON_BIN="$PWD/$2"
export PLUTON_BIN
shift 2
exec "$test_bin" "$@"
