"""A Keras model as a plain dict and back (`elephas.utils.serialization`): its JSON and weights."""


def model_to_dict(model):
    """{"model": model.to_json(), "weights": model.get_weights()}, keys in that order."""
    return {"model": model.to_json(), "weights": model.get_weights()}


def dict_to_model(dict_, custom_objects=None):
    """The model model_to_dict described, with its weights."""
    import keras  # here, so that importing sparkeras.utils does not load TensorFlow
    model = keras.models.model_from_json(dict_["model"], custom_objects=custom_objects or {})
    model.set_weights(dict_["weights"])
    return model
