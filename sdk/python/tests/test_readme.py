"""The README's quick start, run literally: its sh blocks in order in one bash,
each python block written to the file named by the "Save as `PATH`:" line
before it, and the output compared with its text block."""

from __future__ import annotations

import os
import re
import signal
import subprocess

from harness import REPO, SDK

_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
_SAVE_AS = re.compile(r"Save as\s+`([^`]+)`:\s*$")


def quick_start():
    text = (SDK / "README.md").read_text()
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    script, expected, pos = [], None, 0
    for m in _BLOCK.finditer(section):
        lang, body = m.group(1), m.group(2)
        before = section[pos:m.start()].rstrip()
        pos = m.end()
        if lang == "sh":
            script.append(body)
        elif lang == "python":
            target = _SAVE_AS.search(before)
            assert target, "a python block without a 'Save as `PATH`:' line before it:\n" + body
            script.append("cat > %s <<'README_EOF'\n%sREADME_EOF\n" % (target.group(1), body))
        elif lang == "text":
            expected = body
    return "".join(script), expected


def test_quick_start_extraction():
    script, expected = quick_start()
    assert "tools/dist/python.sh" in script and "bin/plutonManager" in script and "pip install" in script
    assert "pluton.Service(\"hello\").serve(greet)" in script and "client.call(" in script
    assert expected == "Hello, Pluton!\nfault 100 nobody to greet\n"


def test_quick_start_runs_as_written(tmp_path):
    script, expected = quick_start()
    env = {k: v for k, v in os.environ.items()
           if k not in ("plutonHome", "plutonLookupMap", "plutonAcceptSocket", "QS", "DIST_DIR")}
    # set -e and a trap that stops the manager if a step fails; the steps are the README's.
    prelude = "set -euo pipefail\ntrap 'kill ${manager:-} 2>/dev/null || true; rm -rf \"${QS:-/nonexistent}\"' EXIT\n"
    prebuilt = os.environ.get("PLUTON_BIN")
    if prebuilt and os.path.realpath(prebuilt) != os.path.realpath(REPO / "bin"):
        # Under Bazel the commands are prebuilt ($PLUTON_BIN) and the tree has no Go
        # toolchain: `make build` links them into bin/ instead of building them.
        prelude += ('make() { if [ "$*" = build ]; then mkdir -p bin && ln -sf "%s"/* bin/; '
                    'else command make "$@"; fi; }\n' % prebuilt)
    full = prelude + script
    (tmp_path / "quickstart.sh").write_text(full)
    proc = subprocess.Popen(["bash", str(tmp_path / "quickstart.sh")], cwd=str(REPO), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError("the quick start did not finish: " + out + err) from None
    assert proc.returncode == 0, out + err
    assert out.endswith(expected), out + err
