"""elephas's arithmetic on lists of weight arrays (`elephas.utils.functional_utils`)."""
import numpy as np


def add_params(p1, p2):
    """Element-wise sums of two lists of arrays."""
    return [x + y for x, y in zip(p1, p2)]


def subtract_params(p1, p2):
    """Element-wise differences of two lists of arrays."""
    return [x - y for x, y in zip(p1, p2)]


def get_neutral(array_list):
    """Zeros shaped like each array: the neutral element of add_params."""
    return [np.zeros_like(np.asarray(a)) for a in array_list]


def divide_by(array_list, num_workers):
    """Each array divided by num_workers."""
    return [np.asarray(a) / num_workers for a in array_list]
