#!/usr/bin/env bash
# Sets everything up (runtime dependencies and scikit-learn, for the digits), then trains
# the demo on local Spark and prints its test accuracy. `--help` needs no set-up.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
for arg in "$@"; do
  case "$arg" in
    -h|--help) exec "${PYTHON:-python3}" examples/python/demo.py --help ;;  # argparse only: any Python will do
  esac
done
"$root/build/setup.sh" demo
exec .venv/bin/python examples/python/demo.py "$@"
