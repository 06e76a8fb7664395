"""The package version.

In the source tree it is read from go/version/VERSION, the single source of
the version; tools/dist/python.sh replaces this file with the number itself.
"""

import os


def _from_tree() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, os.pardir, os.pardir, os.pardir, os.pardir, "go", "version", "VERSION")
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return "0+unknown"


__version__ = _from_tree()
