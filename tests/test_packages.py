"""The Maven artifact end to end: published to the local Maven repository, pulled in with
`spark-submit --packages` (resolving from that repository only) by a Scala application and
by a Python script, and models moving between Scala and Python."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
pytestmark = pytest.mark.packages


def _version():
    with open(os.path.join(ROOT, "VERSION")) as f:
        return f.read().strip()


def _run(cmd, cwd=ROOT, env=None, timeout=1200):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd[:3]} failed:\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    _run([os.path.join(ROOT, "build", "sbt"), "-warn", "publishM2"])
    repo = os.path.expanduser("~/.m2/repository")
    coordinates = f"io.github.sparkeras:sparkeras-spark4_2.13:{_version()}"
    assert glob.glob(os.path.join(repo, "io/github/sparkeras/sparkeras-spark4_2.13", _version(), "*.pom"))
    settings = tmp_path_factory.mktemp("ivy") / "ivysettings.xml"
    settings.write_text(f"""<ivysettings>
  <settings defaultResolver="local-maven-only"/>
  <resolvers>
    <ibiblio name="local-maven-only" m2compatible="true" root="file://{repo}"/>
  </resolvers>
</ivysettings>
""")
    return coordinates, str(settings), str(tmp_path_factory.mktemp("ivy-cache"))


def _submit(published, args, extra=()):
    import pyspark
    coordinates, settings, cache = published
    spark_home = os.path.dirname(pyspark.__file__)
    env = dict(os.environ, SPARK_HOME=spark_home, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               SPARK_LOCAL_IP="127.0.0.1", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    cmd = [os.path.join(spark_home, "bin", "spark-submit"), "--master", "local[2]", "--packages", coordinates,
           "--conf", f"spark.jars.ivySettings={settings}", "--conf", f"spark.jars.ivy={cache}",
           "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
           "--conf", "spark.ui.enabled=false", "--conf", f"spark.pyspark.python={sys.executable}", *extra, *args]
    return _run(cmd, env=env)


def _accuracy(stdout):
    line = next(l for l in stdout.splitlines() if l.startswith("test accuracy:"))
    return float(line.split(":")[1].split()[0])


def test_python_script_with_packages_imports_sparkeras_from_the_jar(published):
    out = _submit(published, [os.path.join(ROOT, "examples", "python", "submit_digits.py")])
    assert ".jar" in next(l for l in out.splitlines() if l.startswith("sparkeras ")), out
    assert _accuracy(out) >= 0.9


def test_scala_application_with_packages_and_models_across_languages(published, spark, digits, tmp_path):
    import keras
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sparkeras.ml import KerasEstimator, KerasModel
    from conftest import mlp

    x_train, x_test, y_train, y_test = digits
    for name, xs, ys in (("train", x_train, y_train), ("test", x_test, y_test)):
        pq.write_table(pa.table({"id": np.arange(len(xs)), "features": list(xs), "label": ys.astype("float64")}),
                       str(tmp_path / f"{name}.parquet"))
    mlp().save(str(tmp_path / "model.keras"))
    # a model trained in Python, for Scala to apply
    train_df = spark.read.parquet(str(tmp_path / "train.parquet"))
    test_df = spark.read.parquet(str(tmp_path / "test.parquet"))
    python_model = KerasEstimator(model=mlp(), epochs=5, numWorkers=2).fit(train_df)
    python_model.write().overwrite().save(str(tmp_path / "python-model"))

    _run([os.path.join(ROOT, "build", "sbt"), "-warn", "package"], cwd=os.path.join(ROOT, "examples", "scala"))
    app = glob.glob(os.path.join(ROOT, "examples", "scala", "target", "scala-2.13", "sparkeras-scala-example_2.13-*.jar"))[0]
    out = _submit(published, [app, str(tmp_path / "model.keras"), str(tmp_path / "train.parquet"),
                              str(tmp_path / "test.parquet"), str(tmp_path / "scala-model"),
                              str(tmp_path / "python-model"), str(tmp_path / "scala-applied")],
                  extra=["--class", "TrainDigits"])
    assert _accuracy(out) >= 0.9

    def probabilities(frame):
        rows = frame.select("id", "probability").collect()
        return np.array([r["probability"].toArray() for r in sorted(rows, key=lambda r: r["id"])])

    # Scala-trained model, loaded in Python: the same predictions as Scala's own
    from_scala = KerasModel.load(str(tmp_path / "scala-model"))
    np.testing.assert_allclose(probabilities(from_scala.transform(test_df)),
                               probabilities(spark.read.parquet(str(tmp_path / "scala-model-predictions"))),
                               rtol=1e-5, atol=1e-6)
    # Python-trained model, applied by Scala: the same predictions as Python's own
    np.testing.assert_allclose(probabilities(spark.read.parquet(str(tmp_path / "scala-applied"))),
                               probabilities(python_model.transform(test_df)), rtol=1e-5, atol=1e-6)
