"""Ensembles of Keras models: the averaging ensemble (one model whose output is the weighted
mean of its members' outputs) and the members the ensemble algorithm trains, one per worker."""
from sparkeras.driver import job_config
from sparkeras.errors import ModelSpecError
from sparkeras.wire.codec import from_tensor


def members_from_wire(model, members):
    """The ensemble algorithm's result: one Keras model per partition (WorkerState messages),
    each a copy of `model` with that worker's trained weights and statistics, compiled as
    `model` is."""
    import keras
    out = []
    for member in sorted(members, key=lambda m: m.partition):
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        job_config.assign_trainable(copy, from_tensor(member.trainable))
        if member.HasField("non_trainable"):
            state = type(member)()
            state.CopyFrom(member)
            job_config.assign_state(copy, state)
        config = model.get_compile_config() if getattr(model, "compiled", False) else None
        if config:
            copy.compile_from_config(config)
        out.append(copy)
    return out


def average_ensemble(models, weights=None, name="sparkeras_ensemble"):
    """One Keras model whose output is the mean of `models`' outputs, weighted by `weights`
    (equal by default); the models must take the same inputs and give outputs of one shape.
    Compiled with the first model's loss and metrics so that it can be evaluated. Each
    member keeps its trained weights; members of weight 0 are left out."""
    import keras
    if not models:
        raise ModelSpecError("an ensemble needs at least one model")
    weights = [1.0 / len(models)] * len(models) if weights is None else [float(w) for w in weights]
    if len(weights) != len(models) or min(weights) < 0 or sum(weights) <= 0:
        raise ModelSpecError(f"ensemble weights must be {len(models)} non-negative numbers, not all 0; got {weights}")
    first = models[0]
    inputs = [keras.Input(shape=t.shape[1:], name=f"input_{i}") for i, t in enumerate(first.inputs)]
    outputs = []
    for i, (member, weight) in enumerate(zip(models, weights)):
        if weight == 0:
            continue
        copy = keras.models.clone_model(member)
        copy.set_weights(member.get_weights())
        wrapper = keras.Model(copy.inputs if len(copy.inputs) > 1 else copy.inputs[0],
                              copy.outputs if len(copy.outputs) > 1 else copy.outputs[0], name=f"member_{i}")
        out = wrapper(inputs if len(inputs) > 1 else inputs[0])
        outputs.append(keras.layers.Rescaling(weight / sum(weights), name=f"weight_{i}")(out))
    combined = keras.layers.Add(name="weighted_average")(outputs) if len(outputs) > 1 else outputs[0]
    ensemble = keras.Model(inputs if len(inputs) > 1 else inputs[0], combined, name=name)
    config = first.get_compile_config() if hasattr(first, "get_compile_config") else None
    if config:
        ensemble.compile(optimizer="sgd", loss=config.get("loss"), metrics=config.get("metrics"))
    return ensemble
