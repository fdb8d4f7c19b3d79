"""Spark Connect: the same KerasEstimator script trains and predicts with a classic session
and with a Connect client (pyspark's local Connect server, the sparkeras jar on it), where
the Scala stage fits in the server through the parameter server and transforms there."""
import pytest

from conftest import run_job


@pytest.mark.parametrize("kind", ["classic", "connect"])
def test_the_same_script_trains_in_both_worlds(kind):
    result = run_job("connect_job.py", kind, timeout=900)
    assert result["remote"] == (kind == "connect")
    assert result["model"] == ("RemoteKerasModel" if kind == "connect" else "KerasModel")
    assert {"prediction", "probability", "rawPrediction"} <= set(result["columns"])
    assert result["accuracy"] >= 0.9, result
