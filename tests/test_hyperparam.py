"""Distributed hyper-parameter search and ensembles (sparkeras.hyperparam) on the digits."""
import os
import sys

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "python")


@pytest.fixture(scope="module")
def split(digits):
    from sklearn.model_selection import train_test_split
    x_train, x_test, y_train, y_test = digits
    x_fit, x_val, y_fit, y_val = train_test_split(x_train, y_train, test_size=0.2, random_state=0, stratify=y_train)
    return (x_fit, y_fit, x_val, y_val), (x_test, y_test)


def build(trial):
    """The README's and the example's model-building function."""
    sys.path.insert(0, EXAMPLES)
    try:
        from hyperparam_search import build as example_build
    finally:
        sys.path.remove(EXAMPLES)
    return example_build(trial)


def accuracy(model, x, y):
    return float((model.predict(x, verbose=0).argmax(1) == y).mean())


def test_minimize_and_best_ensemble(spark, sc, split):
    from sparkeras.hyperparam import HyperParamModel
    from sparkeras.model import SparkModel
    data, (x_test, y_test) = split
    search = HyperParamModel(sc, parallelism=2, seed=3)
    best = search.minimize(build, data, max_evals=8, epochs=10, metric="val_accuracy")
    table = search.trials()
    assert len(table) == 8 and {t["state"] for t in table} <= {"COMPLETE", "PRUNED"}
    finished = [t["value"] for t in table if t["state"] == "COMPLETE"]
    reported = [t["value"] for t in table if t["value"] is not None]
    # the best model is at least as accurate as the median trial, on the test set as on validation
    assert max(finished) >= np.median(reported)
    assert accuracy(best, x_test, y_test) >= np.median(reported) - 0.02
    assert accuracy(best, x_test, y_test) > 0.85

    ensemble = search.best_ensemble(3, build, data, max_evals=8, epochs=10, metric="val_accuracy")
    print("figures: best", accuracy(best, x_test, y_test), "median trial", np.median(reported), "ensemble",
          accuracy(ensemble, x_test, y_test), "members", [accuracy(m, x_test, y_test) for m in search.best_models], "weights", search.ensemble_weights)
    members = search.best_models
    assert len(members) == 3
    # Its weights were chosen on validation rows, so it is held to the member validation ranks
    # first (the one it starts from), within two points of 450 test rows (one CI run saw the
    # ensemble 0.7 point below the member that was best on the test rows, picked afterwards).
    assert accuracy(ensemble, x_test, y_test) >= accuracy(members[0], x_test, y_test) - 0.02
    # the ensemble is a Keras model like any other: distributed predict and evaluate, save and load
    spark_predictions = SparkModel(ensemble).predict(x_test)
    np.testing.assert_allclose(spark_predictions, ensemble.predict(x_test, verbose=0), rtol=1e-5, atol=1e-6)
    assert SparkModel(ensemble).evaluate(x_test, y_test)[1] == pytest.approx(accuracy(ensemble, x_test, y_test),
                                                                               abs=1e-6)
    from sparkeras.ml import KerasModel
    from sparkeras.ml.adapter import to_data_frame
    transformed = KerasModel(model=ensemble).transform(to_data_frame(sc, x_test, y_test)).collect()
    assert np.mean([r["prediction"] == r["label"] for r in transformed]) == pytest.approx(
        accuracy(ensemble, x_test, y_test), abs=1e-6)


def test_failed_trials_are_recorded_not_fatal(sc, split, tmp_path):
    import keras
    from sparkeras.hyperparam import HyperParamModel, average_ensemble
    data, (x_test, y_test) = split

    def sometimes_broken(trial):
        if trial.number % 2 == 0:
            raise RuntimeError("this architecture does not build")
        return build(trial)

    search = HyperParamModel(sc, parallelism=2, seed=0, verbose=0)
    best = search.minimize(sometimes_broken, lambda: data, max_evals=4, epochs=2)  # elephas's data() function
    states = [t["state"] for t in search.trials()]
    assert "FAIL" in states and "COMPLETE" in states
    assert any("does not build" in (t["error"] or "") for t in search.trials())
    assert isinstance(best, keras.Model)
    ensemble = average_ensemble([best, best])
    ensemble.save(str(tmp_path / "ensemble.keras"))
    reloaded = keras.models.load_model(str(tmp_path / "ensemble.keras"))
    np.testing.assert_allclose(reloaded.predict(x_test, verbose=0), best.predict(x_test, verbose=0), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("direction,value,spared", [("maximize", 0.75, True), ("maximize", 0.55, False),
                                                    ("minimize", 0.75, True), ("minimize", 0.85, False)])
def test_a_trial_among_the_best_kept_is_not_pruned(direction, value, spared):
    """An ensemble of 3 spares a trial ranked second or third at its epoch, which a median
    pruner would stop (a CI run once finished 2 of the 3 trials an ensemble asked for)."""
    import optuna
    from sparkeras.hyperparam import _among_best
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction)
    for reported in ([0.9, 0.95], [0.8, 0.7], [0.6], [0.5, 0.4]):  # epochs 0 and 1 of earlier trials
        trial = study.ask()
        for epoch, v in enumerate(reported):
            trial.report(v, epoch)
        study.tell(trial, reported[-1])
    trial = study.ask()
    trial.report(value, 0)
    # at epoch 0 the others reported 0.9, 0.8, 0.6 and 0.5: 0.75 is third either way; 0.55 is
    # fourth when maximizing and 0.85 fourth when minimizing
    assert _among_best(trial, 0, value, 3, direction) is spared
    assert _among_best(trial, 0, value, 1, direction) is False  # a single best model: the pruner decides
