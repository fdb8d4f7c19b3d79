"""Model inputs as numpy: one array, or a list of arrays for a multi-input model."""
import numpy as np


def rows_of(x):
    return len(x[0]) if isinstance(x, (list, tuple)) else len(x)


def slice_rows(x, start, stop):
    return [a[start:stop] for a in x] if isinstance(x, (list, tuple)) else x[start:stop]


def take_rows(x, idx):
    return [a[idx] for a in x] if isinstance(x, (list, tuple)) else x[idx]


def constant(x):
    import tensorflow as tf
    return [tf.constant(a) for a in x] if isinstance(x, (list, tuple)) else tf.constant(x)


def model_input(xs):
    """A list of per-input arrays as the model takes it: the array itself for one input."""
    return xs[0] if len(xs) == 1 else list(xs)


def labels(y):
    """Float labels as float32 (Keras's own dtype); integer labels keep their type."""
    y = np.asarray(y)
    return y.astype(np.float32) if y.dtype.kind == "f" and y.dtype != np.float32 else y
