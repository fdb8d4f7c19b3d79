"""elephas's utilities under their elephas paths: `from sparkeras.utils import to_simple_rdd` works
as `from elephas.utils import to_simple_rdd` does."""
from sparkeras.utils.functional_utils import add_params, divide_by, get_neutral, subtract_params  # noqa: F401
from sparkeras.utils.rdd_utils import (encode_label, from_labeled_point, lp_to_simple_rdd,  # noqa: F401
                                       to_labeled_point, to_simple_rdd)
from sparkeras.utils.serialization import dict_to_model, model_to_dict  # noqa: F401
