"""Every benchmark in bench/, run with tiny sizes: each starts, trains or loads what it
measures, and prints its table. The figures themselves mean nothing at these sizes (the
benchmarks are run by hand, never timed here); what breaks a benchmark breaks this test.
MNIST is replaced by scikit-learn's digits, padded to 28x28, in MNIST's IDX files."""
import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "bench")

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """The digits as MNIST-format IDX files: 1,400 training and 397 test images."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = np.zeros((len(digits.images), 28, 28), dtype=np.uint8)
    images[:, 10:18, 10:18] = (digits.images * 255 / 16).astype(np.uint8)
    folder = tmp_path_factory.mktemp("mnist")
    for prefix, rows in (("train", slice(0, 1400)), ("t10k", slice(1400, None))):
        x, y = images[rows], digits.target[rows].astype(np.uint8)
        with gzip.open(folder / f"{prefix}-images.idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">HBBIII", 0, 8, 3, len(x), 28, 28) + x.tobytes())
        with gzip.open(folder / f"{prefix}-labels.idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">HBBI", 0, 8, 1, len(y)) + y.tobytes())
    return str(folder)


def bench(script, *args, timeout=600):
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, os.path.join(BENCH, script), *args], capture_output=True, text=True,
                         timeout=timeout, env=env, cwd=os.path.join(HERE, ".."))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def table_row(output, name):
    """The numbers on the first printed line that starts with `name`."""
    line = next(l for l in output.splitlines() if l.strip().startswith(name))
    return [float(v) for v in line[line.index(name) + len(name):].split() if v.replace(".", "").isdigit()]


def test_mnist_bench(mnist_dir):
    out = bench("mnist_bench.py", "--data", mnist_dir, "--epochs", "1",
                "--modes", "asynchronous/batch,asynchronous/batch/overlap,synchronous/epoch")
    for name in ("keras model.fit", "sparkeras asynchronous/batch", "sparkeras asynchronous/batch/overlap",
                 "sparkeras synchronous/epoch", "compute ceiling"):
        rate = table_row(out, name)[0]
        assert rate > 0, (name, out)
    assert "CPU per step: worker" in out and "push+pull of" in out


def test_rivals_bench(mnist_dir):
    out = bench("rivals_bench.py", "--data", mnist_dir, "--rows", "600", "--epochs", "1", "--runs", "synchronous/batch",
                timeout=900)
    tables = out.split("\n\n")
    assert [t.split(":")[0].strip() for t in tables if "training rows" in t] == ["mlp", "convnet", "wide", "lstm"]
    for table in (t for t in tables if "training rows" in t):
        fit, sync = table_row(table, "model.fit"), table_row(table, "sparkeras synchronous/batch")
        assert fit[0] > 0 and sync[0] > 0 and 0 <= sync[-2] <= 1 and sync[-1] > 100, table  # accuracy, peak MB


def test_algorithms_bench(mnist_dir):
    out = bench("algorithms_bench.py", "--data", mnist_dir, "--epochs", "1", "--workers", "2",
                "--algorithms", "agn,ensemble")
    assert table_row(out, "agn")[0] > 0.1 and table_row(out, "ensemble")[0] > 0.1, out


def test_server_load():
    out = bench("server_load.py", "--seconds", "0.5", "--workers", "2,4", "--sizes", "1000")
    for workers in (2, 4):
        assert f"1000 params,  {workers} workers: server" in out, out


def test_server_heap():
    out = bench("server_heap.py", "--hidden", "20,40")
    assert "used_peak_growth_per_model_byte" in out, out


def test_streamed_bench():
    out = bench("streamed_bench.py", "--rows", "512", "--rounds", "1")
    assert "streamed {" in out and "per-connection {" in out, out


def test_jvm_workers_bench():
    out = bench("jvm_workers_bench.py", "1", timeout=900)
    assert "median scala/python" in out, out
