"""Runs elephas's own test suite against sparkeras, as a user moving from elephas would.

    python tests/elephas_suite.py PATH/TO/elephas [--mnist DIR] [pytest arguments...]

PATH/TO/elephas is a checkout of elephas (its tests/ folder is what runs; elephas's tests are
not shipped with sparkeras). The tests are copied to a temporary folder and changed only as a
user moving over would change them:

- the import rename: the word `elephas` becomes `sparkeras` in every test file;
- local data instead of downloads: `keras.datasets.mnist` reads MNIST from --mnist (default
  ../shared/data/mnist), and `keras.datasets.boston_housing` (gone from scikit-learn, a
  download in Keras) is replaced by scikit-learn's bundled diabetes data widened to
  Boston's 13 columns;
- with --keras3-metrics, `compile(opt, loss, [metrics])` becomes `compile(opt, loss, metrics=[...])`:
  Keras 3 reads a third positional argument as loss_weights, so those tests fail under plain
  Keras 3 too (sparkeras names the mistake before training);
- pytest-spark's `spark_context` and `spark_session` fixtures, on a local[2] session bound to
  127.0.0.1.

The tests run with the temporary folder as the working directory (they write test.h5 and tmp/
there). Not part of `.ci/run`: it needs a checkout of elephas and MNIST, neither of which a
fresh clone has; the figures it gives are in the README's "Coming from elephas" section.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

DATA_MODULE = '''"""Local stand-ins for keras.datasets' mnist and boston_housing (written by elephas_suite.py)."""
import os
import sys
import types

import numpy as np

MNIST_DIR = {mnist!r}


def _mnist():
    sys.path.insert(0, {examples!r})
    try:
        from demo import load_mnist
    finally:
        sys.path.pop(0)
    x_train, x_test, y_train, y_test = load_mnist(MNIST_DIR)
    # keras.datasets.mnist gives uint8 images of 28x28 and integer labels
    as_images = lambda x: np.round(x * 255).astype("uint8").reshape(-1, 28, 28)
    return (as_images(x_train), y_train.astype("uint8")), (as_images(x_test), y_test.astype("uint8"))


def _boston():
    from sklearn.datasets import load_diabetes
    d = load_diabetes()
    x = np.hstack([d.data, d.data[:, :3] ** 2]) * 10.0
    y = d.target / 10.0
    order = np.random.RandomState(113).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(len(x) * 0.8)
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


mnist = types.SimpleNamespace(load_data=_mnist)
boston_housing = types.SimpleNamespace(load_data=_boston)
'''

SPARK_FIXTURES = '''"""pytest-spark's fixtures, on a local[2] session bound to 127.0.0.1 (written by elephas_suite.py)."""
import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def spark_session():
    import sparkeras
    session = sparkeras.spark_session("local[2]", "elephas-suite", local_only=True, spark_ui_enabled="false")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_context(spark_session):
    return spark_session.sparkContext
'''


def rename(text):
    """The import rename a user does: every `elephas` word becomes `sparkeras`."""
    return re.sub(r"\belephas\b", "sparkeras", text)


KERAS2_COMPILE = re.compile(r"\.compile\((\w+), ('[^']+'), (\[[^\]]*\])\)")


def keras3_metrics(text):
    """`model.compile(opt, loss, [metrics])` as Keras 3 needs it: `metrics=[...]` (Keras 3 reads
    a third positional argument as loss_weights). Only with --keras3-metrics."""
    return KERAS2_COMPILE.sub(r".compile(\1, \2, metrics=\3)", text)


def prepare(elephas_checkout, mnist_dir, target, fix_compile=False):
    source = os.path.join(elephas_checkout, "tests")
    if not os.path.isdir(source):
        raise SystemExit(f"{elephas_checkout} has no tests/ folder; give the path of an elephas checkout")
    shutil.copytree(source, os.path.join(target, "tests"))
    for folder, _, files in os.walk(os.path.join(target, "tests")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path) as f:
                    text = rename(f.read())
                if fix_compile:
                    text = keras3_metrics(text)
                if name == "conftest.py" and folder.endswith("tests"):
                    text = text.replace("from tensorflow.keras.datasets import", "from suite_data import")
                with open(path, "w") as f:
                    f.write(text)
    with open(os.path.join(target, "suite_data.py"), "w") as f:
        f.write(DATA_MODULE.format(mnist=os.path.abspath(mnist_dir),
                                   examples=os.path.join(HERE, "..", "examples", "python")))
    with open(os.path.join(target, "suite_spark.py"), "w") as f:
        f.write(SPARK_FIXTURES)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("elephas", help="path of an elephas checkout")
    parser.add_argument("--mnist", default=os.path.join(HERE, "..", "..", "shared", "data", "mnist"),
                        help="folder with MNIST in IDX files (default ../shared/data/mnist)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--keras3-metrics", action="store_true",
                        help="also rewrite compile(opt, loss, [metrics]) to compile(opt, loss, metrics=[...]), the "
                             "one change Keras 3 itself needs in elephas's tests")
    args, pytest_args = parser.parse_known_args()
    if not os.path.isdir(args.mnist):
        raise SystemExit(f"no MNIST folder at {args.mnist}; give one with --mnist")
    target = tempfile.mkdtemp(prefix="elephas-suite-")
    try:
        prepare(args.elephas, args.mnist, target, args.keras3_metrics)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([target, os.environ.get("PYTHONPATH", "")]))
        command = [sys.executable, "-m", "pytest", "-p", "suite_spark", "-p", "no:cacheprovider", "tests"]
        print("running", " ".join(command + pytest_args), "in", target, flush=True)
        return subprocess.run(command + pytest_args, cwd=target, env=env).returncode
    finally:
        if args.keep:
            print("kept", target)
        else:
            shutil.rmtree(target, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
