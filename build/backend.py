"""The PEP 517 build backend of sparkeras: setuptools', after `generated.build()` has made
sure that the jar and the wire module the wheel carries exist and match their sources
(pyproject.toml names this module, with build/ as its backend path)."""
from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (every other hook is setuptools')

import generated


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    generated.build()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    generated.build()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    generated.build()
    return _setuptools.build_sdist(sdist_directory, config_settings)
