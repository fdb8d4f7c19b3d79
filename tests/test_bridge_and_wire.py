"""The py4j bridge and the wire rules, exercised from Python against the real JVM server."""
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sparkeras.driver import bridge as jvm
from sparkeras.errors import JarVersionMismatch, ServerError
from sparkeras.wire.codec import from_tensor, to_tensor
from sparkeras.wire.connection import Connection
from sparkeras.wire import sparkeras_pb2 as wire


def test_tensors_round_trip_as_raw_little_endian_bytes():
    for dtype in ("float32", "float64", "int32", "int64"):
        a = (np.arange(24).reshape(2, 3, 4) * 1.5).astype(dtype)
        t = to_tensor(a)
        assert t.data == a.astype(a.dtype.newbyteorder("<")).tobytes()
        np.testing.assert_array_equal(from_tensor(t), a)
    big_endian = np.arange(3, dtype=">f4")
    np.testing.assert_array_equal(from_tensor(to_tensor(big_endian)), big_endian)


def _configured_server(sc, weights):
    coordinator = jvm.new_coordinator(sc, max_frame_bytes=1 << 20)
    conn = Connection(coordinator.getHost(), coordinator.getPort())
    conn.hello(coordinator.getToken(), wire.DRIVER)
    env = wire.Envelope()
    cfg = env.job_config
    cfg.mode, cfg.frequency, cfg.num_workers, cfg.epochs, cfg.batch_size = "asynchronous", "batch", 1, 1, 1
    cfg.optimizer_class = "sgd"
    cfg.optimizer_params["learning_rate"] = 1.0
    to_tensor(np.asarray(weights, np.float32), out=cfg.initial_weights.add())
    cfg.trainable_sizes.append(len(weights))
    conn.call(env)
    return coordinator, conn


def _pull(conn):
    return from_tensor(conn.pull().values)


def test_server_binds_to_driver_host_with_fresh_tokens(sc):
    a = jvm.new_coordinator(sc)
    b = jvm.new_coordinator(sc)
    try:
        assert a.getHost() == "127.0.0.1"
        assert len(a.getToken()) == 64 and a.getToken() != b.getToken()
    finally:
        a.stop()
        b.stop()


def test_wrong_token_and_malformed_frames_leave_weights_intact(sc):
    coordinator, driver = _configured_server(sc, [1.0, 2.0])
    try:
        with Connection(coordinator.getHost(), coordinator.getPort()) as intruder:
            with pytest.raises(ServerError, match="authentication failed"):
                intruder.hello("00" * 32, wire.WORKER)
        with Connection(coordinator.getHost(), coordinator.getPort()) as worker:
            worker.hello(coordinator.getToken(), wire.WORKER)
            worker._sock.sendall(b"\x00\x00\x00\x05" + b"\xff" * 5)  # a varint that never ends
            assert "not a valid sparkeras envelope" in worker.receive().error.message
        with Connection(coordinator.getHost(), coordinator.getPort()) as worker:
            worker.hello(coordinator.getToken(), wire.WORKER)
            worker._sock.sendall(struct.pack(">I", 2_400_000))  # announces 2.4 MB against a 1 MB cap
            assert "exceeds the cap" in worker.receive().error.message
        np.testing.assert_array_equal(_pull(driver), [1.0, 2.0])
    finally:
        driver.close()
        coordinator.stop()


def test_version_mismatch_is_a_clear_error(sc, monkeypatch):
    monkeypatch.setattr(jvm, "__version__", "0.0.0-other")
    with pytest.raises(JarVersionMismatch, match="jar on the driver is version .* but the Python package is 0.0.0-other"):
        jvm.new_coordinator(sc)


def test_jar_found_without_spark_jars_through_our_class_loader(tmp_path):
    """A user's own SparkContext, created without any sparkeras setting, still works."""
    script = tmp_path / "plain_context.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        from pyspark import SparkConf, SparkContext
        conf = SparkConf().setMaster("local[1]").setAppName("plain") \\
            .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1").set("spark.ui.enabled", "false")
        sc = SparkContext(conf=conf)
        assert "sparkeras" not in sc.getConf().get("spark.jars", "")
        from sparkeras.driver import bridge as jvm
        c = jvm.new_coordinator(sc)
        print("coordinator", c.getHost(), c.getPort(), c.version())
        c.stop(); sc.stop()
    """))
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "coordinator 127.0.0.1" in out.stdout


def test_training_with_spark_authentication_on(tmp_path):
    """With spark.authenticate on, the coordinator keys its job token with Spark's secret; training works."""
    script = tmp_path / "authenticated.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        import numpy as np, keras
        import sparkeras
        from sparkeras import SparkModel, to_simple_rdd
        spark = sparkeras.spark_session("local[2]", "auth", local_only=True, spark_ui_enabled="false",
                                        spark_authenticate="true", spark_authenticate_secret="not-a-real-secret")
        sc = spark.sparkContext
        assert sc.getConf().get("spark.authenticate") == "true"
        from sklearn.datasets import load_digits
        d = load_digits()
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = SparkModel(model, num_workers=2).fit(to_simple_rdd(sc, d.data / 16.0, d.target, 2), epochs=3)
        print("trained", len(history.history["loss"]))
        spark.stop()
    """))
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trained 3" in out.stdout
