"""Spark Connect: one user script (tests/connect_job.py) run with a classic session and as a
thin client of a Spark Connect server started here (pyspark's spark-submit, the sparkeras jar
on --jars, everything on 127.0.0.1): trains KerasEstimator in two modes, applies, saves and
loads the fitted model and a Pipeline holding it, tunes epochs with a CrossValidator, calls a
model from SQL, and is told clearly that SparkModel (RDDs) needs a classic session."""
import os
import signal
import socket
import subprocess
import sys
import time

import pyspark
import pytest

from conftest import run_job
from sparkeras.driver.bridge import bundled_jar


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """A local Spark Connect server in its own process group, ended by its id afterwards."""
    port = _free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    conf = {"spark.connect.grpc.binding.address": "127.0.0.1", "spark.connect.grpc.binding.port": str(port),
            "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1", "spark.ui.enabled": "false",
            "spark.pyspark.python": sys.executable}
    command = [submit, "--class", "org.apache.spark.sql.connect.service.SparkConnectServer", "--master", "local[2]",
               "--jars", bundled_jar()] + [a for k, v in conf.items() for a in ("--conf", f"{k}={v}")] + ["spark-internal"]
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Spark Connect server did not start:\n" + log.read_text()[-3000:])
                time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


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


def test_the_script_in_a_classic_session():
    result = run_job("connect_job.py", "classic", timeout=900)
    assert not result["remote"] and result["py4j_gateway"]
    assert result["asynchronous/epoch"]["model"] == result["loaded"]["model"] == "KerasModel"
    assert result["pipeline"]["stages"] == ["StandardScalerModel", "KerasModel"]
    assert result["spark_model"] == "ok"
    _check(result)


def test_the_same_script_from_a_connect_client(connect_server):
    result = run_job("connect_job.py", connect_server, timeout=900)
    # a thin client: no py4j gateway and no JVM of its own; the stages live in the server
    assert result["remote"] and not result["py4j_gateway"] and result["jvm_children"] == 0, result
    assert result["asynchronous/epoch"]["model"] == result["loaded"]["model"] == "RemoteKerasModel"
    assert result["pipeline"]["stages"] == ["StandardScalerModel", "RemoteKerasModel"]
    assert "needs a classic Spark session" in result["spark_model"] and "KerasEstimator" in result["spark_model"]
    _check(result)
