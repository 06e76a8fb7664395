"""tools/dist/python.sh: a wheel and an sdist from the standard backend, each
installed into a fresh directory; the installed package serves under a real
plutonManager."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from harness import HELLO, REPO, RealManager, run_standalone

SCRIPT = REPO / "tools" / "dist" / "python.sh"


def _missing_tool() -> str:
    if shutil.which("bash") is None:
        return "bash is not installed"
    for module in ("pip", "build", "hatchling"):
        if importlib.util.find_spec(module) is None:
            return "the %s module is not installed for %s (tools/setup.sh installs it)" % (module, sys.executable)
    return ""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    missing = _missing_tool()
    if missing:
        pytest.fail(missing)
    out_dir = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, DIST_DIR=str(out_dir), PYTHON=sys.executable)
    out = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    version = (REPO / "go" / "version" / "VERSION").read_text().strip()
    wheel = out_dir / ("pluton-%s-py3-none-any.whl" % version)
    sdist = out_dir / ("pluton-%s.tar.gz" % version)
    assert out.stdout.split() == [str(wheel), str(sdist)]
    return version, wheel, sdist


def test_wheel_contents(built):
    version, wheel, _ = built
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "pluton/py.typed" in names and "pluton/aio.py" in names
        assert "pluton-%s.dist-info/licenses/LICENSE" % version in names
        meta = z.read("pluton-%s.dist-info/METADATA" % version).decode()
        assert "License-Expression: BSD-3-Clause" in meta and "Version: %s" % version in meta
        assert '__version__ = "%s"' % version in z.read("pluton/_version.py").decode()
        assert not any("__pycache__" in n for n in names)
        license_text = z.read("pluton-%s.dist-info/licenses/LICENSE" % version).decode()
        assert "BSD 3-Clause License" in license_text and "Copyright (c) 2026 The Pluton for Go authors" in license_text


def test_sdist_contents_and_install(built, tmp_path):
    version, _, sdist = built
    top = "pluton-%s/" % version
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
        for member in ("PKG-INFO", "pyproject.toml", "LICENSE", "README.md", "src/pluton/py.typed",
                       "examples/echo.py", "tests/test_native.py"):
            assert top + member in names
        assert not any("__pycache__" in n or "BUILD.bazel" in n for n in names)
        assert '__version__ = "%s"' % version in tf.extractfile(top + "src/pluton/_version.py").read().decode()
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          "--no-build-isolation", "--no-index", "--target", str(site), str(sdist)],
                         capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert pip.returncode == 0, pip.stdout + pip.stderr
    check = subprocess.run([sys.executable, "-c", "import pluton; print(pluton.__file__, pluton.__version__)"],
                           env=dict(os.environ, PYTHONPATH=str(site)), capture_output=True, text=True,
                           cwd=str(tmp_path))
    where, got = check.stdout.split()
    assert where.startswith(str(site)) and got == version


def test_installed_wheel_serves_under_the_manager(built, tmp_path):
    version, wheel, _ = built
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
                          "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path))
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (site / "pluton" / "py.typed").exists()
    # A copy of the echo with no src/ beside it: it can only use the installed package.
    echo = tmp_path / "run" / "echo.py"
    echo.parent.mkdir()
    shutil.copy(REPO / "sdk" / "python" / "examples" / "echo.py", echo)
    env = {"PYTHONPATH": str(site)}
    rc, resp, err = run_standalone(HELLO, tmp_path, env=env, argv=[str(echo)])
    assert rc == 0, err
    assert resp.endswith(b"/0,5qHello,0z\n")

    wrapper = tmp_path / "run" / "echo.sh"
    wrapper.write_text("#!/bin/sh\nPYTHONPATH=%s exec %s %s\n" % (site, sys.executable, echo))
    wrapper.chmod(0o755)
    m = RealManager({"dist.echo.0.raw": "exec %s\nminimum-processes 1\nprestart-processes true\n" % wrapper})
    try:
        client = subprocess.run(
            [sys.executable, "-c", "import sys, pluton; c = pluton.Client('dist', lookup=sys.argv[1]); "
             "sys.stdout.buffer.write(c.call('dist.echo.0.raw', b'from the wheel'))\n"
             "import os; print(); print(pluton.__file__)", str(m.lookup)],
            env=dict(os.environ, PYTHONPATH=str(site)), capture_output=True, text=True, timeout=30,
            cwd=str(tmp_path))
        assert client.returncode == 0, client.stderr + m.log()
        data, where = client.stdout.splitlines()
        assert data == "from the wheel" and where.startswith(str(site))
    finally:
        m.close()
