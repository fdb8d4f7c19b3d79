"""The package version: the installed distribution's, else the repository's VERSION file."""
import os
from importlib import metadata


def _read_version():
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "VERSION"), os.path.join(here, "..", "..", "VERSION")):
        if os.path.isfile(candidate):
            with open(candidate) as f:
                return f.read().strip()
    try:
        return metadata.version("sparkeras")
    except metadata.PackageNotFoundError:
        return "unknown"


__version__ = _read_version()
