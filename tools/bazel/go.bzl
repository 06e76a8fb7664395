"""Project wrappers of rules_go rules; gazelle emits them through map_kind.

go_test: a test that depends on the testbin package (which gives tests the
commands of go/cmd, building them with `go build` unless PLUTON_BIN names a
directory holding them) gets those commands from Bazel instead:

  * <name>_go: the go_test itself (tagged manual), run from the workspace root
    of its runfiles (rundir "."), which is what testbin.RepoRoot returns under
    Bazel, with data on //go/cmd:bin (every go/cmd binary in one directory);
  * <name>: an sh_test that sets PLUTON_BIN to the absolute path of that
    directory and runs <name>_go. The Go test writes its own test.xml.

Other go_tests are rules_go's go_test unchanged.
"""

load("@io_bazel_rules_go//go:def.bzl", _go_test = "go_test")

BIN_DIR = "//go/cmd:bin"

_TESTBIN = ["//go/testbin", "//go/testbin:testbin", "//go/internal/testbin", "//go/internal/testbin:testbin"]

# Attributes of the test itself rather than of the Go code.
_TEST_ATTRS = ["size", "timeout", "flaky", "shard_count", "local", "args"]

def go_test(name, deps = [], data = [], tags = [], **kwargs):
    """rules_go's go_test, given the go/cmd binaries if it uses testbin.

    Args:
      name: the target name.
      deps: as for go_test.
      data: as for go_test.
      tags: as for go_test.
      **kwargs: everything else go_test takes.
    """
    if not [d for d in deps if d in _TESTBIN]:
        _go_test(name = name, deps = deps, data = data, tags = tags, **kwargs)
        return
    test_attrs = {k: kwargs.pop(k) for k in _TEST_ATTRS if k in kwargs}
    args = test_attrs.pop("args", [])
    kwargs.setdefault("rundir", ".")
    _go_test(
        name = name + "_go",
        deps = deps,
        data = data + ([BIN_DIR] if BIN_DIR not in data else []),
        tags = tags + ["manual"],
        **kwargs
    )

    # buildifier: disable=native-sh-test
    native.sh_test(
        name = name,
        srcs = ["//tools/bazel:run_with_bins.sh"],
        args = ["$(rootpath :%s_go)" % name, "$(rootpath %s)" % BIN_DIR] + args,
        data = [":%s_go" % name, BIN_DIR],
        tags = tags,
        visibility = kwargs.get("visibility"),
        **test_attrs
    )
