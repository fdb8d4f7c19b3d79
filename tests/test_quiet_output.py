"""What a user sees: the README's quickstart and the demo, run as a user runs them, print
sparkeras's progress and results, and none of TensorFlow's start-up lines, no traceback
and no Spark stage bars (their whole stdout and stderr are checked)."""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

NOISE = [
    (re.compile(r"^[IWE]\d{4} "), "absl log line"),
    (re.compile(r"absl::InitializeLog"), "absl pre-init warning"),
    (re.compile(r"oneDNN"), "oneDNN line"),
    (re.compile(r"cuda|cuInit|CUDA", re.IGNORECASE), "CUDA probe line"),
    (re.compile(r"Traceback"), "traceback"),
    (re.compile(r"\[Stage \d+"), "Spark stage bar"),
]


def quickstart_code():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("## Quickstart"):]
    return section[section.index("```python") + len("```python"):section.index("```\n", section.index("```python"))]


def run(args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "SPARKERAS_TF"))}
    env.update(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    out = subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout + out.stderr


def noise_in(output):
    lines = re.split(r"[\r\n]", output)
    return [(what, line) for line in lines for pattern, what in NOISE if pattern.search(line)]


def test_readme_quickstart_prints_progress_and_results_only(tmp_path):
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart_code())
    output = run([str(script)], tmp_path)
    assert noise_in(output) == [], noise_in(output)[:10]
    assert "Epoch 10/10" in output and "val_accuracy" in output  # Keras's own progress lines, from the server
    assert (tmp_path / "model.keras").is_file()


def test_demo_prints_progress_and_results_only(tmp_path):
    output = run([os.path.join(ROOT, "examples", "python", "demo.py"), "--epochs", "3"], tmp_path)
    assert noise_in(output) == [], noise_in(output)[:10]
    assert "Epoch 3/3" in output and "test accuracy:" in output


INTERRUPTED_JOB = '''
import sparkeras, keras, numpy as np
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
x = np.random.default_rng(0).normal(size=(4000, 32)).astype("float32")
y = (x.sum(1) > 0).astype("int64")
model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
before = [w.copy() for w in model.get_weights()]
try:
    sparkeras.SparkModel(model, num_workers=2).fit(sparkeras.to_simple_rdd(spark.sparkContext, x, y),
                                                   epochs=500, batch_size=16, verbose=2)
except KeyboardInterrupt as e:
    trained = not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    print("INTERRUPTED", trained, e, flush=True)
    raise
'''


def test_ctrl_c_cancels_the_fit_cleanly(tmp_path):
    import signal
    import time
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED_JOB)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 300
        for line in proc.stdout:  # Keras's per-epoch lines (verbose=2): training is under way
            if line.startswith("Epoch 2/") or time.time() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    # the model holds the weights training had reached, as after an interrupted model.fit
    assert "INTERRUPTED True training interrupted" in out, (out[-2000:], err[-3000:])
    assert err.count("Traceback") <= 1 and "KeyboardInterrupt: training interrupted" in err, err[-3000:]
    assert len(err.splitlines()) < 40, err[-3000:]
