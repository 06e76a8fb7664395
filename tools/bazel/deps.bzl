"""Go repositories that Bazel's own tools need, declared as go_repository.

go_rules_dependencies() and gazelle_dependencies() would declare some of these
as http_archive from GitHub; declaring them first (through the Go module proxy)
keeps the build offline. A repository already declared by go_deps.bzl (from
go.mod) wins.
"""

load("@bazel_gazelle//:deps.bzl", "go_repository")

def _maybe(name, **kwargs):
    if name not in native.existing_rules():
        go_repository(name = name, **kwargs)

def pluton_tool_dependencies():
    """Declares the Go repositories the gazelle binary needs."""

    # gazelle v0.27.0 imports golang.org/x/tools/go/vcs, which x/tools dropped
    # after v0.1.12. WORKSPACE maps @org_golang_x_tools to this repository
    # inside @bazel_gazelle, so go.mod may require any x/tools version.
    go_repository(
        name = "bazel_gazelle_org_golang_x_tools",
        build_directives = [
            # Not resolved offline unless x/sys is in the repository config.
            "gazelle:resolve go golang.org/x/sys/execabs @org_golang_x_sys//execabs",
        ],
        importpath = "golang.org/x/tools",
        sum = "h1:VveCTK38A2rkS8ZqFY25HIDFscX5X9OoEhJd3quQmXU=",
        version = "v0.1.12",
    )
    _maybe(
        name = "org_golang_x_xerrors",
        importpath = "golang.org/x/xerrors",
        sum = "h1:go1bK/D/BFZV2I8cIQd1NKEZ+0owSTG1fDTci4IqFcE=",
        version = "v0.0.0-20200804184101-5ec99f83aff1",
    )

    # x/tools/go/vcs imports golang.org/x/sys/execabs.
    _maybe(
        name = "org_golang_x_sys",
        importpath = "golang.org/x/sys",
        sum = "h1:PuvuRMeLWqsf/ZdT1UUZz0syhioyv1mzuFZsXs4fvhw=",
        version = "v0.0.0-20220913175220-63ea55921009",
    )
