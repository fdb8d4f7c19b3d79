"""Loading a saved stage reads data only: a stored function is saved and unpickled only when asked for."""
import pathlib
import pickle
import warnings

import pytest

from sparkeras import UnsafeLoadRefused
from sparkeras.ml import KerasEstimator


class _Evil:
    """What an attacker would store: unpickling it creates a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def _build():
    from conftest import mlp
    return mlp()


def test_build_fn_is_not_saved_by_default(tmp_path):
    path = str(tmp_path / "estimator")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        KerasEstimator(buildFn=_build, epochs=3).save(path)
    assert any("buildFn was not saved" in str(w.message) for w in caught)
    assert not (tmp_path / "estimator" / "build_fn").exists()
    loaded = KerasEstimator.load(path)
    assert loaded.getEpochs() == 3 and loaded._get(loaded.buildFn) is None


def test_a_stored_pickle_is_not_run_without_the_opt_in(spark, tmp_path):
    path = str(tmp_path / "estimator")
    KerasEstimator(buildFn=_build).write().option("saveBuildFn", "true").save(path)
    marker = tmp_path / "owned"
    # Replace the stored function with an attacker's payload.
    spark.createDataFrame([(bytearray(pickle.dumps(_Evil(str(marker)))),)], "blob binary") \
        .coalesce(1).write.mode("overwrite").parquet(path + "/build_fn")
    with pytest.raises(UnsafeLoadRefused, match="holds a pickled buildFn.*allow_pickle=True"):
        KerasEstimator.load(path)
    assert not marker.exists(), "loading ran the stored code"
    KerasEstimator.load(path, allow_pickle=True)
    assert marker.exists(), "with the explicit opt-in, the pickle is loaded"


def test_a_saved_build_fn_round_trips_with_the_opt_in(tmp_path):
    path = str(tmp_path / "estimator")
    KerasEstimator(buildFn=_build, epochs=2).write().option("saveBuildFn", "true").save(path)
    loaded = KerasEstimator.read().option("allowPickle", "true").load(path)
    model = loaded._get(loaded.buildFn)()
    assert model.compiled and loaded.getEpochs() == 2
