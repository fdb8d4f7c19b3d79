#!/usr/bin/env bash
# Sets everything up, then runs every test: Scala (sbt), then Python (pytest).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/build/setup.sh"
cd "$root"
echo "test: Scala suites" >&2
# The Scala stages' tests start Python workers: the virtualenv's interpreter.
PYSPARK_PYTHON="$root/.venv/bin/python" TF_CPP_MIN_LOG_LEVEL=2 build/sbt -warn test
echo "test: Python suites" >&2
exec .venv/bin/python -m pytest "$@"
