"""Training modes, as elephas names them (`from elephas.enums.modes import Mode`)."""
from enum import Enum


class Mode(str, Enum):
    SYNCHRONOUS = "synchronous"
    ASYNCHRONOUS = "asynchronous"
    HOGWILD = "hogwild"

    def __str__(self):
        return self.value
