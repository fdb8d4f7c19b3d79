"""The package version: the VERSION file the build places in the package (readable from a
wheel and from inside the jar), else the repository's, else the installed distribution's."""
import os
import pkgutil
from importlib import metadata


def _read_version():
    try:
        data = pkgutil.get_data("sparkeras", "VERSION")
        if data:
            return data.decode().strip()
    except OSError:
        pass
    repo_version = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "VERSION")
    if os.path.isfile(repo_version):
        with open(repo_version) as f:
            return f.read().strip()
    try:
        return metadata.version("sparkeras")
    except metadata.PackageNotFoundError:
        return "unknown"


__version__ = _read_version()
