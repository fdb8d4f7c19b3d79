"""Spark Connect: one user script (tests/connect_job.py) run with a classic session and as a
thin client of a Spark Connect server started here (sparkeras.driver.connect_server: pyspark's
spark-submit with the sparkeras jar, everything on 127.0.0.1): trains KerasEstimator in two
modes, applies, saves and loads the fitted model and a Pipeline holding it, trains a model
with two inputs from two array columns, tunes epochs with a CrossValidator, calls a model from
SQL, and is told clearly what needs a classic session (SparkModel, Keras's evaluate)."""
import socket
import subprocess
import sys

import pytest

from conftest import run_job


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_server():
    """A local Spark Connect server with the sparkeras jar, started and stopped as the README says."""
    port = str(_free_port())
    helper = [sys.executable, "-m", "sparkeras.driver.connect_server"]
    started = subprocess.run(helper + ["start", "--port", port, "--conf", "spark.ui.enabled=false"],
                             capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield f"sc://127.0.0.1:{port}"
    finally:
        subprocess.run(helper + ["stop", "--port", port], capture_output=True, timeout=120)


def _check(result):
    for mode in ("synchronous/batch", "asynchronous/epoch"):
        assert result[mode]["accuracy"] >= 0.9, (mode, result[mode])
        assert result[mode]["history_epochs"] == result[mode]["history_rows"] == 12, result[mode]
    assert {"prediction", "probability", "rawPrediction"} <= set(result["columns"])
    # the saved model predicts as the fitted one did, and keeps its History
    assert result["loaded"]["accuracy"] == result["asynchronous/epoch"]["accuracy"], result["loaded"]
    assert result["loaded"]["history_epochs"] == 12
    assert result["pipeline"]["accuracy"] >= 0.9, result["pipeline"]
    one_epoch, twelve = result["cross_validation"]["metrics"]
    assert twelve > one_epoch + 0.2, result["cross_validation"]
    assert result["cross_validation"]["best_accuracy"] >= 0.9, result["cross_validation"]
    assert result["sql_accuracy"] >= 0.9, result["sql_accuracy"]
    assert result["two_inputs"] >= 0.9, result["two_inputs"]


def test_the_script_in_a_classic_session():
    result = run_job("connect_job.py", "classic", timeout=900)
    assert not result["remote"] and result["py4j_gateway"]
    assert result["asynchronous/epoch"]["model"] == result["loaded"]["model"] == "KerasModel"
    assert result["pipeline"]["stages"] == ["StandardScalerModel", "KerasModel"]
    assert result["spark_model"] == "ok"
    assert result["evaluate"]["accuracy"] >= 0.9, result["evaluate"]
    _check(result)


def test_the_same_script_from_a_connect_client(connect_server):
    result = run_job("connect_job.py", connect_server, timeout=900)
    # a thin client: no py4j gateway and no JVM of its own; the stages live in the server
    assert result["remote"] and not result["py4j_gateway"] and result["jvm_children"] == 0, result
    assert result["asynchronous/epoch"]["model"] == result["loaded"]["model"] == "RemoteKerasModel"
    assert result["pipeline"]["stages"] == ["StandardScalerModel", "RemoteKerasModel"]
    assert "needs a classic Spark session" in result["spark_model"] and "KerasEstimator" in result["spark_model"]
    assert "MulticlassClassificationEvaluator" in result["evaluate"]
    _check(result)


def test_the_readme_commands_as_written():
    """The bash block of the README's "From Spark Connect", run as it is from the repository root."""
    import os
    import re
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with open(os.path.join(root, "README.md")) as f:
        section = f.read().split("## From Spark Connect", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    assert "connect_server start" in block and "connect_server stop" in block
    try:
        out = subprocess.run(["bash", "-c", block], cwd=root, capture_output=True, text=True, timeout=900)
    finally:  # the block's own stop line may not have run
        subprocess.run([sys.executable, "-m", "sparkeras.driver.connect_server", "stop"], capture_output=True,
                       timeout=120)
    found = re.search(r"RemoteKerasModel: test accuracy ([0-9.]+); reloaded from \S+: ([0-9.]+)", out.stdout)
    assert found, (out.stdout[-2000:], out.stderr[-3000:])
    assert float(found.group(1)) >= 0.9 and found.group(1) == found.group(2)
    assert "stopped" in out.stdout
