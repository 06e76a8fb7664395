"""tools/dist/python.sh: the sdist installs offline and its echo example runs."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from harness import HELLO, REPO, run_standalone

SCRIPT = REPO / "tools" / "dist" / "python.sh"


def _missing_tool() -> str:
    if shutil.which("bash") is None:
        return "bash is not installed"
    for module in ("pip", "setuptools"):
        if importlib.util.find_spec(module) is None:
            return "the %s module is not installed for %s" % (module, sys.executable)
    version = importlib.metadata.version("setuptools")
    if tuple(int(p) for p in version.split(".")[:2]) < (61, 0):
        return "setuptools %s is older than 61, which pyproject.toml needs" % version
    return ""


@pytest.mark.skipif(bool(_missing_tool()), reason=_missing_tool() or "-")
def test_sdist_installs_offline_and_runs_the_echo(tmp_path):
    version = (REPO / "go" / "version" / "VERSION").read_text().strip()
    env = dict(os.environ, DIST_DIR=str(tmp_path / "dist"), PYTHON=sys.executable)
    out = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    tarball = tmp_path / "dist" / ("pluton-python-%s.tar.gz" % version)
    assert out.stdout.strip() == str(tarball)
    with tarfile.open(tarball) as tf:
        names = tf.getnames()
        assert all(n == "pluton-python-%s" % version or n.startswith("pluton-python-%s/" % version) for n in names)
        top = "pluton-python-%s/" % version
        for member in ("PKG-INFO", "pyproject.toml", "src/pluton/py.typed", "examples/echo.py"):
            assert top + member in names
        assert not any("__pycache__" in n or n.endswith("BRIEF.md") for n in names)
        stamped = tf.extractfile(top + "src/pluton/_version.py").read().decode()
        assert '__version__ = "%s"' % version in stamped
        echo = tmp_path / "run" / "echo.py"
        echo.parent.mkdir()
        echo.write_bytes(tf.extractfile(top + "examples/echo.py").read())

    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          "--no-build-isolation", "--no-index", "--target", str(site), str(tarball)],
                         capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (site / "pluton" / "py.typed").exists()

    env = {"PYTHONPATH": str(site)}
    check = subprocess.run([sys.executable, "-c", "import pluton; print(pluton.__file__, pluton.__version__)"],
                           env=dict(os.environ, **env), capture_output=True, text=True, cwd=str(tmp_path))
    where, got = check.stdout.split()
    assert where.startswith(str(site)) and got == version

    # The extracted echo has no src/ beside it, so it can only use the installed copy.
    rc, resp, err = run_standalone(HELLO, tmp_path, env=env, argv=[str(echo)])
    assert rc == 0, err
    assert resp.startswith(b"0A,3b100,12aplSend:26446,") and resp.endswith(b"/0,5qHello,0z\n")
