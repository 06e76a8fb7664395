"""bin_dir: one directory holding copies of executables, named as they are.

Tests and SDK suites get every command of go/cmd in one place, the layout
`go build -o DIR/ ./go/cmd/...` gives (PLUTON_BIN).
"""

def _bin_dir_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    exes = [t[DefaultInfo].files_to_run.executable for t in ctx.attr.binaries]
    args = ctx.actions.args()
    args.add(out.path)
    args.add_all(exes)
    ctx.actions.run_shell(
        outputs = [out],
        inputs = exes,
        arguments = [args],
        command = 'out="$1"; shift; mkdir -p "$out"; for f in "$@"; do cp -L "$f" "$out/${f##*/}"; done',
        mnemonic = "BinDir",
        progress_message = "Collecting binaries into %s" % out.short_path,
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

bin_dir = rule(
    implementation = _bin_dir_impl,
    attrs = {
        "binaries": attr.label_list(
            cfg = "target",
            doc = "executables (go_binary targets) to put into the directory",
        ),
    },
    doc = "A directory (tree artifact) holding copies of the given executables.",
)
