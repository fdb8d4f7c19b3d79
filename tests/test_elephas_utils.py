"""elephas's small public helpers under their elephas paths, with elephas's behaviour
(facts from elephas's own tests): enums, weight-list arithmetic, model dicts, loss types."""
import json

import numpy as np
import pytest


def test_elephas_paths_import():
    from sparkeras.enums.frequency import Frequency  # noqa: F401
    from sparkeras.enums.modes import Mode  # noqa: F401
    from sparkeras.utils import dict_to_model, model_to_dict, to_simple_rdd  # noqa: F401
    from sparkeras.utils import functional_utils, rdd_utils, serialization  # noqa: F401
    from sparkeras.utils.model_utils import LossModelTypeMapper, ModelType  # noqa: F401


def test_modes_and_frequencies_are_the_strings_sparkeras_takes():
    from sparkeras.enums.frequency import Frequency
    from sparkeras.enums.modes import Mode
    assert [m.value for m in Mode] == ["synchronous", "asynchronous", "hogwild"]
    assert Mode.SYNCHRONOUS == "synchronous" and Frequency.BATCH == "batch"
    assert json.dumps({"mode": Mode.HOGWILD, "frequency": Frequency.EPOCH}) == '{"mode": "hogwild", "frequency": "epoch"}'


def test_weight_list_arithmetic():
    from sparkeras.utils import functional_utils as f
    ones = [np.ones((5, 5)) for _ in range(10)]
    assert len(f.add_params(ones, ones)) == 10 and all((a == 2).all() for a in f.add_params(ones, ones))
    assert all((a == 0).all() for a in f.subtract_params(ones, ones))
    neutral = f.get_neutral([np.ones((3, 4))])
    assert neutral[0].shape == (3, 4) and not neutral[0].any()
    assert all(np.allclose(a, 0.1) for a in f.divide_by(ones, num_workers=10))


def test_model_to_dict_and_back():
    import keras
    from sparkeras.utils.serialization import dict_to_model, model_to_dict
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    d = model_to_dict(model)
    assert list(d) == ["model", "weights"]
    again = dict_to_model(d)
    assert again.to_json() == model.to_json()
    assert all(np.array_equal(a, b) for a, b in zip(again.get_weights(), model.get_weights()))


def test_loss_model_types_and_a_registered_loss_everywhere():
    from sparkeras.utils.model_utils import LossModelTypeMapper, ModelType
    mapper = LossModelTypeMapper()
    assert mapper.get_model_type("categorical_crossentropy") == ModelType.CLASSIFICATION
    assert mapper.get_model_type("binary_crossentropy") == ModelType.CLASSIFICATION
    assert mapper.get_model_type("mean_squared_error") == ModelType.REGRESSION
    assert mapper.get_model_type("mean_absolute_error") == ModelType.REGRESSION
    assert mapper.get_model_type("no_such_loss") is None

    def huberish(y_true, y_pred):
        return y_pred

    mapper.register_loss(huberish, ModelType.REGRESSION)
    assert LossModelTypeMapper().get_model_type("huberish") == ModelType.REGRESSION  # one mapping per process


@pytest.mark.parametrize("mode,frequency", [("SYNCHRONOUS", "BATCH"), ("HOGWILD", "EPOCH")])
def test_spark_model_takes_the_enums(sc, digits, make_mlp, mode, frequency):
    from sparkeras import SparkModel, to_simple_rdd
    from sparkeras.enums.frequency import Frequency
    from sparkeras.enums.modes import Mode
    x, _, y, _ = digits
    spark_model = SparkModel(make_mlp(), mode=Mode[mode], frequency=Frequency[frequency], num_workers=2)
    history = spark_model.fit(to_simple_rdd(sc, x[:256], y[:256], 2), epochs=2, batch_size=32)
    assert history.params["mode"] == Mode[mode].value and len(history.history["loss"]) == 2
    assert json.loads(json.dumps(spark_model.get_config()))["mode"] == Mode[mode].value
