"""The distributed algorithms of CERN's dist-keras, as a choice on a fit: what each worker
does between exchanges with the parameter server and how the server merges what it
receives. The worker's side is in executor/training.py, the server's in UpdateRule.scala
(AlgorithmMerge); this module checks a choice and fills in its defaults."""
from dataclasses import dataclass

from sparkeras.errors import ModelSpecError


@dataclass(frozen=True)
class AlgorithmSpec:
    window: int  # default communication window: batches (epochs for averaging; unused by ensemble)
    frequency: str  # what the window counts: 'batch' or 'epoch'
    params: dict  # the algorithm's own parameters and their defaults
    summary: str


ALGORITHMS = {
    "downpour": AlgorithmSpec(5, "batch", {}, "push the change in weights every window, pull, continue from the centre"),
    "agn": AlgorithmSpec(12, "batch", {}, "accumulated gradient normalisation: push the change divided by the window"),
    "adag": AlgorithmSpec(12, "batch", {"gamma": 1e-4},
                          "AGN, and the server scales each element by how far it moved since the worker's pull"),
    "dynsgd": AlgorithmSpec(5, "batch", {}, "DOWNPOUR, and the server divides each change by its staleness + 1"),
    "aeasgd": AlgorithmSpec(32, "batch", {"rho": 5.0, "learning_rate": 0.1},
                            "elastic averaging: worker and centre pull towards each other by rho * learning_rate"),
    "eamsgd": AlgorithmSpec(32, "batch", {"rho": 5.0, "learning_rate": 0.05, "momentum": 0.9},
                            "AEASGD whose workers take Nesterov momentum SGD steps"),
    "averaging": AlgorithmSpec(1, "epoch", {}, "train locally, average the workers' models every window of epochs"),
    "ensemble": AlgorithmSpec(1, "epoch", {}, "every worker trains its own model; the result averages their outputs"),
}
ASYNCHRONOUS_MODES = ("asynchronous", "hogwild")


@dataclass(frozen=True)
class Algorithm:
    """A checked choice: the algorithm's name, its window, frequency and parameters."""
    name: str
    communication_window: int
    frequency: str
    params: dict

    @property
    def alpha(self):
        """The elastic algorithms' moving rate, rho * learning_rate."""
        return self.params["rho"] * self.params["learning_rate"]


def resolve(name, mode, frequency=None, communication_window=None, merge=None, **params):
    """The Algorithm for `name` with its defaults filled in, or None for sparkeras's own
    (name None or ''). Raises ModelSpecError naming what does not fit: an unknown name or
    parameter, synchronous mode, a frequency or merge the algorithm fixes itself."""
    given = {k: v for k, v in params.items() if v is not None}
    if not name:
        if given:
            raise ModelSpecError(f"{', '.join(sorted(given))} configure a distributed algorithm; pass algorithm=... "
                                 f"({', '.join(ALGORITHMS)}) too")
        return None
    key = str(name).lower()
    if key not in ALGORITHMS:
        raise ModelSpecError(f"algorithm must be one of {', '.join(ALGORITHMS)}; got {name!r}")
    spec = ALGORITHMS[key]
    if mode not in ASYNCHRONOUS_MODES:
        raise ModelSpecError(f"algorithm={key!r} runs in the asynchronous and hogwild modes; got mode={mode!r}. "
                             "Synchronous training averages gradients every step and needs no algorithm")
    if frequency is not None and frequency != spec.frequency:
        raise ModelSpecError(f"algorithm={key!r} communicates every communication_window "
                             f"{'batches' if spec.frequency == 'batch' else 'epochs'}; leave frequency unset "
                             f"(got frequency={frequency!r})")
    if merge is not None:
        raise ModelSpecError(f"merge applies to sparkeras's own delta merging; algorithm={key!r} merges in its own "
                             "way (see the README's table of algorithms): leave merge unset")
    unknown = sorted(set(given) - set(spec.params))
    if unknown:
        accepted = ", ".join(spec.params) or "none"
        raise ModelSpecError(f"algorithm={key!r} takes no {', '.join(unknown)}; its parameters: {accepted}")
    values = {**spec.params, **{k: float(v) for k, v in given.items()}}
    for k, v in values.items():
        if not (v == v and abs(v) != float("inf")) or v < 0 or (k != "momentum" and v == 0):
            raise ModelSpecError(f"{k} must be a positive, finite number; got {v!r}")
    if key == "eamsgd" and values["momentum"] >= 1:
        raise ModelSpecError(f"momentum must be in [0, 1); got {values['momentum']}")
    window = spec.window if communication_window is None else communication_window
    if isinstance(window, bool) or int(window) != window or int(window) < 1:
        raise ModelSpecError(f"communication_window must be a whole number of at least 1; got {window!r}")
    algorithm = Algorithm(key, int(window), spec.frequency, values)
    if key in ("aeasgd", "eamsgd") and not 0 < algorithm.alpha < 1:
        raise ModelSpecError(f"rho * learning_rate (the elastic rate) must be in (0, 1); got {algorithm.alpha:g}")
    return algorithm


def eamsgd_optimizer(algorithm):
    """EAMSGD's local optimizer: Nesterov momentum SGD at the algorithm's learning rate."""
    import keras
    return keras.optimizers.serialize(keras.optimizers.SGD(
        learning_rate=algorithm.params["learning_rate"], momentum=algorithm.params["momentum"], nesterov=True))
