"""Whether a loss makes a model a classifier or a regressor (`elephas.utils.model_utils`)."""
import json
from enum import Enum


class ModelType(Enum):
    CLASSIFICATION = 1
    REGRESSION = 2


_DEFAULT_TYPES = {
    **{loss: ModelType.CLASSIFICATION for loss in ("binary_crossentropy", "categorical_crossentropy",
                                                   "sparse_categorical_crossentropy")},
    **{loss: ModelType.REGRESSION for loss in ("mean_squared_error", "mean_absolute_error", "mse", "mae",
                                               "cosine_proximity", "mean_absolute_percentage_error",
                                               "mean_squared_logarithmic_error", "logcosh")},
}


class LossModelTypeMapper:
    """One mapping for the whole process (a loss registered once is known everywhere), as in elephas."""
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
            cls._instance._types = dict(_DEFAULT_TYPES)
        return cls._instance

    def get_model_type(self, loss):
        """The ModelType of a loss given by name or as a function; None for a loss it does not know."""
        return self._types.get(loss if isinstance(loss, str) else getattr(loss, "__name__", None))

    def register_loss(self, loss, model_type):
        """Teaches the mapper a loss, by name or as a function (registered under its __name__)."""
        self._types[loss if isinstance(loss, str) else loss.__name__] = model_type


class ModelTypeEncoder(json.JSONEncoder):
    """JSON for a ModelType as elephas writes it in saved files: {"__enum__": "ModelType.REGRESSION"}."""

    def default(self, obj):
        if isinstance(obj, ModelType):
            return {"__enum__": str(obj)}
        return super().default(obj)


def as_enum(d):
    """json.loads object hook that turns ModelTypeEncoder's objects back into ModelType members."""
    if "__enum__" in d:
        return ModelType[d["__enum__"].split(".")[-1]]
    return d


def is_multiple_input_model(model):
    """Whether the Keras model has more than one input."""
    return len(model.inputs) > 1


def is_multiple_output_model(model):
    """Whether the Keras model has more than one output."""
    return len(model.outputs) > 1
