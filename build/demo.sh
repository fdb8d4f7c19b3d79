#!/usr/bin/env bash
# Sets everything up, then trains the demo on local Spark and prints its test accuracy.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/build/setup.sh"
cd "$root"
exec .venv/bin/python examples/python/demo.py "$@"
