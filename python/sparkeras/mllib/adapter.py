"""numpy arrays to and from `pyspark.mllib.linalg` dense matrices and vectors (`elephas.mllib.adapter`)."""
import numpy as np
from pyspark.mllib.linalg import Matrices, Vectors

__all__ = ["from_matrix", "from_vector", "to_matrix", "to_vector"]


def to_matrix(np_array):
    """A 2-D array as an MLlib DenseMatrix with the same rows and columns."""
    array = np.asarray(np_array)
    if array.ndim != 2:
        raise ValueError(f"an MLlib Matrix needs a two-dimensional array; got {array.ndim} dimensions, "
                         f"shape {array.shape}")
    # MLlib matrices are column-major
    return Matrices.dense(array.shape[0], array.shape[1], array.ravel(order="F"))


def from_matrix(matrix):
    """An MLlib Matrix as a 2-D numpy array."""
    return matrix.toArray()


def to_vector(np_array):
    """A 1-D array as an MLlib DenseVector."""
    array = np.asarray(np_array)
    if array.ndim != 1:
        raise ValueError(f"an MLlib Vector needs a one-dimensional array; got {array.ndim} dimensions, "
                         f"shape {array.shape}")
    return Vectors.dense(array)


def from_vector(vector):
    """An MLlib (or Spark ML) Vector as a 1-D numpy array."""
    return vector.toArray()
