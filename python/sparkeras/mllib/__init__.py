"""elephas's MLlib helpers, at elephas's path (`elephas.mllib`)."""
from sparkeras.mllib.adapter import from_matrix, from_vector, to_matrix, to_vector

__all__ = ["from_matrix", "from_vector", "to_matrix", "to_vector"]
