"""The wheel works anywhere: built from the checkout, installed into a fresh virtualenv with
only its declared runtime dependencies (no test extras, no repository on the path), it
trains and predicts from a temporary directory through every API: SparkModel on an RDD,
KerasEstimator on a DataFrame, and a SQL function."""
import glob
import os
import subprocess
import sys
import venv

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

USER_SCRIPT = '''
import sparkeras, keras, numpy as np
from pyspark.sql import SparkSession
assert "site-packages" in sparkeras.__file__ and "{root}" not in sparkeras.__file__, sparkeras.__file__
spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
rng = np.random.default_rng(0)
x = rng.normal(size=(600, 8)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int64")

def model():
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
    m.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m

spark_model = sparkeras.SparkModel(model(), num_workers=2)
spark_model.fit(sparkeras.to_simple_rdd(spark.sparkContext, x, y), epochs=5, batch_size=32)
rdd_accuracy = spark_model.evaluate(x, y)[1]

from pyspark.ml.linalg import Vectors
from sparkeras.ml import KerasEstimator
df = spark.createDataFrame([(Vectors.dense(a.tolist()), float(b)) for a, b in zip(x, y)], ["features", "label"])
fitted = KerasEstimator(model=model(), epochs=5, numWorkers=2).fit(df)
frame_accuracy = fitted.transform(df).selectExpr("avg(CAST(prediction = label AS double))").first()[0]

sparkeras.register_udf(spark, "classify", fitted)
df.createOrReplaceTempView("rows")
sql_rows = spark.sql("SELECT classify(features) AS p FROM rows").count()
print("RESULT", rdd_accuracy, frame_accuracy, sql_rows)
'''


def _run(cmd, cwd, env=None, timeout=1500):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, f"{cmd[:4]} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    return out.stdout


def test_wheel_in_a_fresh_virtualenv(tmp_path):
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), ROOT], cwd=tmp_path)
    wheel = glob.glob(str(wheels / "sparkeras-*.whl"))
    assert len(wheel) == 1, wheel
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    _run([python, "-m", "pip", "install", "-q", "--progress-bar", "off", wheel[0]], cwd=tmp_path)
    installed = _run([python, "-m", "pip", "list", "--format=freeze"], cwd=tmp_path).lower()
    for test_only in ("pytest", "scikit-learn", "import-linter", "optuna"):
        assert f"{test_only}==" not in installed, f"{test_only} came with the runtime install"
    work = tmp_path / "somewhere"
    work.mkdir()
    script = work / "user_job.py"
    script.write_text(USER_SCRIPT.replace("{root}", ROOT))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PYSPARK_PYTHON=python, SPARK_LOCAL_IP="127.0.0.1", PATH=f"{env_dir / 'bin'}:{env.get('PATH', '')}")
    out = _run([python, str(script)], cwd=work, env=env)
    line = next(l for l in out.splitlines() if l.startswith("RESULT "))
    rdd_accuracy, frame_accuracy, sql_rows = line.split()[1:]
    assert float(rdd_accuracy) > 0.85 and float(frame_accuracy) > 0.85 and int(sql_rows) == 600
