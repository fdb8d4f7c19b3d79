#!/usr/bin/env bash
# Everything a fresh machine needs: a virtualenv at .venv/, the JVM jar built by sbt
# (placed inside the Python package), and sparkeras installed into .venv with its
# dependencies. Each step says what it does and how long it took, and is skipped when
# its inputs did not change, so a second run takes seconds.
#
#   build/setup.sh          runtime and test dependencies (what build/test.sh needs)
#   build/setup.sh demo     runtime dependencies and scikit-learn (what build/demo.sh needs)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
extra="${1:-test}"
python="${PYTHON:-python3}"
step_started=0
step() { step_started=$SECONDS; echo "setup: $*" >&2; }
done_step() { echo "setup:   done in $((SECONDS - step_started)) s" >&2; }

if [ ! -x .venv/bin/python ]; then
  step "creating .venv with $("$python" --version)"
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  done_step
fi

# The jar and the wire module: rebuilt only when their sources changed (build/generated.py).
if "$python" build/generated.py --check; then
  echo "setup: the JVM jar and the wire module match their sources (skipped sbt)" >&2
else
  step "building the JVM jar and the wire module with sbt (a few minutes the first time)"
  "$python" build/generated.py
  done_step
fi

# The installed package: reinstalled only when the package, its metadata or the extra changed.
stamp=.venv/sparkeras-install.stamp
inputs="$(cat target/generated.stamp) $(cat pyproject.toml README.md | "$python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
wanted="$inputs $extra"
installed="$(cat "$stamp" 2>/dev/null || true)"
# the test extra includes everything the demo extra has
if { [ "$installed" = "$wanted" ] || { [ "$extra" = demo ] && [ "$installed" = "$inputs test" ]; }; } \
    && .venv/bin/python -c 'import sparkeras.driver.bridge' 2>/dev/null; then
  echo "setup: sparkeras[$extra] is installed and current (skipped pip)" >&2
else
  step "installing sparkeras[$extra] and its dependencies into .venv (pip; minutes on a fresh machine)"
  rm -rf build/lib  # setuptools' staging copy would carry modules that no longer exist into the wheel
  .venv/bin/python -m pip install -q --progress-bar off ".[$extra]"
  echo "$wanted" > "$stamp"
  done_step
fi
.venv/bin/python -c 'import sparkeras, sparkeras.driver.bridge as b; print("setup: sparkeras", sparkeras.__version__, "with", b.bundled_jar().rsplit("/", 1)[-1])' >&2
