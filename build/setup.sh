#!/usr/bin/env bash
# Everything a fresh machine needs: a virtualenv at .venv/, the JVM jar built by sbt
# (placed inside the Python package), and sparkeras installed into .venv with its
# dependencies. Safe to run again; it only redoes what changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$python" --version)" >&2
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "setup: building the JVM jar with sbt" >&2
build/sbt -warn pythonJar
echo "setup: installing sparkeras and its dependencies into .venv" >&2
rm -rf build/lib  # setuptools' staging copy would carry modules that no longer exist into the wheel
.venv/bin/python -m pip install -q ".[test]"
.venv/bin/python -c 'import sparkeras, sparkeras.driver.bridge as b; print("setup: sparkeras", sparkeras.__version__, "with", b.bundled_jar().rsplit("/", 1)[-1])' >&2
