"""save/load round-trips the model, its weights and the distributed configuration."""
import numpy as np
import pytest

from sparkeras import SparkModel, load_spark_model


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_save_and_load_round_trip(tmp_path, digits, make_mlp, suffix, sc):
    model = make_mlp()
    model.fit(digits[0], digits[2], epochs=1, verbose=0)
    original = SparkModel(model, mode="hogwild", frequency="batch", num_workers=3, batch_size=48, communication_window=2)
    path = str(tmp_path / f"model{suffix}")
    original.save(path)

    loaded = load_spark_model(path)
    assert loaded.get_config() == {k: v for k, v in original.get_config().items() if k != "parameter_server_mode"} | {
        "parameter_server_mode": "socket"}
    for a, b in zip(model.get_weights(), loaded.master_network.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.predict(digits[1]), model.predict(digits[1], verbose=0), rtol=1e-5, atol=1e-6)


def test_loading_a_plain_keras_file_says_what_is_missing(tmp_path, make_mlp):
    path = str(tmp_path / "plain.keras")
    make_mlp().save(path)
    with pytest.raises(ValueError, match="no sparkeras configuration"):
        load_spark_model(path)
