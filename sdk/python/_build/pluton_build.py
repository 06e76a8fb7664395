"""PEP 517 build backend: setuptools', plus a fallback wheel builder.

setuptools releases before 70.1 build wheels only through the separate
``wheel`` package. Where neither is available (a machine with just pip and an
older setuptools, installing offline with ``--no-build-isolation``), this
backend builds the pure-Python wheel itself from the output of setuptools' own
``egg_info`` and ``build_py`` commands. Everything else is
``setuptools.build_meta`` unchanged.
"""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

from setuptools import build_meta as _setuptools
# The sdist hooks are setuptools' own.
build_sdist = _setuptools.build_sdist
get_requires_for_build_sdist = _setuptools.get_requires_for_build_sdist

_TAG = "py3-none-any"


def _native():
    """True if setuptools can build wheels by itself."""
    for module in ("setuptools.command.bdist_wheel", "wheel.bdist_wheel"):
        try:
            __import__(module)
            return True
        except ImportError:
            continue
    return False


def get_requires_for_build_wheel(config_settings=None):
    if _native():
        return _setuptools.get_requires_for_build_wheel(config_settings)
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    if _native():
        return _setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings)
    with tempfile.TemporaryDirectory() as tmp:
        return _make_dist_info(tmp, metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if _native():
        return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    with tempfile.TemporaryDirectory() as tmp:
        lib = os.path.join(tmp, "lib")
        _setup(tmp, "build_py", "--build-lib", lib)
        dist_info = _make_dist_info(tmp, lib)
        name = dist_info[: -len(".dist-info")]
        wheel = "%s-%s.whl" % (name, _TAG)
        _zip(lib, os.path.join(wheel_directory, wheel), dist_info)
        return wheel


def _setup(tmp, *commands):
    """Run setuptools commands on the project in the current directory."""
    build = os.path.join(tmp, "build")
    subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()",
                    "egg_info", "--egg-base", tmp, "build", "--build-base", build] + list(commands),
                   check=True, stdout=sys.stderr)


def _make_dist_info(tmp, target):
    """Write ``<name>-<version>.dist-info`` (METADATA, WHEEL, top_level.txt) into
    ``target`` from setuptools' egg-info; return its directory name."""
    egg_infos = [d for d in os.listdir(tmp) if d.endswith(".egg-info")]
    if not egg_infos:
        _setup(tmp)
        egg_infos = [d for d in os.listdir(tmp) if d.endswith(".egg-info")]
    egg_info = os.path.join(tmp, egg_infos[0])
    fields = {}
    with open(os.path.join(egg_info, "PKG-INFO"), encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields.setdefault(key, value.strip())
    name = fields["Name"].replace("-", "_")
    dist_info = "%s-%s.dist-info" % (name, fields["Version"])
    out = os.path.join(target, dist_info)
    os.makedirs(out, exist_ok=True)
    shutil.copyfile(os.path.join(egg_info, "PKG-INFO"), os.path.join(out, "METADATA"))
    top_level = os.path.join(egg_info, "top_level.txt")
    if os.path.exists(top_level):
        shutil.copyfile(top_level, os.path.join(out, "top_level.txt"))
    with open(os.path.join(out, "WHEEL"), "w", encoding="utf-8") as f:
        f.write("Wheel-Version: 1.0\nGenerator: pluton_build\nRoot-Is-Purelib: true\nTag: %s\n" % _TAG)
    return dist_info


def _zip(root, wheel_path, dist_info):
    """Zip the tree under ``root`` into a wheel, with its RECORD last."""
    record_name = dist_info + "/RECORD"
    lines = []
    with zipfile.ZipFile(wheel_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for file in sorted(files):
                path = os.path.join(folder, file)
                arcname = os.path.relpath(path, root).replace(os.sep, "/")
                with open(path, "rb") as f:
                    data = f.read()
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                lines.append("%s,sha256=%s,%d" % (arcname, digest.decode("ascii"), len(data)))
                zf.writestr(arcname, data)
        lines.append(record_name + ",,")
        zf.writestr(record_name, "\n".join(lines) + "\n")
