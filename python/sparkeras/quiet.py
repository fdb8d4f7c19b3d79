"""TensorFlow's start-up lines kept off the console, in the driver and in every worker.

Importing TensorFlow prints absl/oneDNN/CUDA lines from C++ before its own logging
settings apply (no environment variable stops them), and its first operation on a machine
without a GPU logs `failed call to cuInit ... (303)`, which reads like a failure. When
`import sparkeras` runs before TensorFlow is imported (in a Python worker it always does),
TensorFlow's import runs with the process's stderr pointed at /dev/null, and
TF_CPP_MIN_LOG_LEVEL defaults to 3 (errors reach Python as exceptions, not log lines), and
TensorFlow's Python logger shows errors only (no tf.function "retracing" warnings from the
workers' compiled steps). Set SPARKERAS_TF_LOGS=1 to keep all of TensorFlow's own output.
"""
import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys

SWITCH = "SPARKERAS_TF_LOGS"


@contextlib.contextmanager
def stderr_silenced():
    """File descriptor 2 pointed at /dev/null (C++ writes there directly), restored afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with stderr silenced."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with stderr_silenced():
            self.loader.exec_module(module)

    def __getattr__(self, name):  # resources, is_package, ...: TensorFlow's loader answers
        return getattr(self.loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as the path finder does, with a loader that silences its import."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowFinder)]
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow():
    """Applies the defaults above, unless SPARKERAS_TF_LOGS is set or TensorFlow is already imported."""
    if os.environ.get(SWITCH, "") not in ("", "0") or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf_logger = logging.getLogger("tensorflow")
    if tf_logger.level == logging.NOTSET:
        tf_logger.setLevel(logging.ERROR)
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
