"""go_module_source: a Bazel repository made of a Go module's source.

Bazel rule sets that are also Go modules (rules_go, gazelle) are fetched by
module path through the Go module proxy with `go mod download`, like any other
Go dependency, so that no host other than the proxy is needed. The module's
h1 sum is checked, its zip is extracted, and optionally `go mod vendor` is run
(module zips never contain vendor/) and patches are applied.
"""

def _go_binary(ctx):
    go = ctx.which("go")
    if go:
        return go
    for candidate in ["/usr/local/go/bin/go", "/usr/lib/go/bin/go"]:
        if ctx.path(candidate).exists:
            return ctx.path(candidate)
    fail("go_module_source: no `go` on PATH nor in /usr/local/go/bin")

def _run(ctx, args, what, env):
    res = ctx.execute(args, environment = env, quiet = True, timeout = 1800)
    if res.return_code:
        fail("go_module_source: %s failed:\n%s%s" % (what, res.stdout, res.stderr))
    return res.stdout

def _go_module_source_impl(ctx):
    go = _go_binary(ctx)
    env = {"GOFLAGS": "", "GOTOOLCHAIN": "local", "GOWORK": "off", "GO111MODULE": "on"}
    mod = "%s@%s" % (ctx.attr.module, ctx.attr.version)
    ctx.report_progress("go mod download " + mod)
    info = json.decode(_run(ctx, [go, "mod", "download", "-json", mod], "go mod download " + mod, env))
    if info.get("Error"):
        fail("go_module_source: %s: %s" % (mod, info["Error"]))
    if info.get("Sum") != ctx.attr.sum:
        fail("go_module_source: %s: checksum mismatch: got %s, want %s" % (mod, info.get("Sum"), ctx.attr.sum))
    ctx.extract(info["Zip"], stripPrefix = mod)
    if ctx.attr.vendor:
        ctx.report_progress("go mod vendor " + mod)
        _run(ctx, [go, "mod", "vendor"], "go mod vendor in " + mod, env)
    for patch in ctx.attr.patches:
        ctx.patch(patch, strip = 1)

go_module_source = repository_rule(
    implementation = _go_module_source_impl,
    attrs = {
        "module": attr.string(mandatory = True, doc = "Go module path"),
        "patches": attr.label_list(doc = "unified diffs applied with -p1, in order"),
        "sum": attr.string(mandatory = True, doc = "the module's h1: sum, as in go.sum"),
        "vendor": attr.bool(doc = "run `go mod vendor` in the extracted module"),
        "version": attr.string(mandatory = True, doc = "module version, e.g. v0.34.0"),
    },
    environ = ["GOPROXY", "GOMODCACHE", "GOPATH", "GONOSUMDB", "GOPRIVATE", "GOSUMDB", "HOME"],
    doc = "A repository holding the source of a Go module fetched with `go mod download`.",
)
