"""How often workers exchange with the server, as elephas names it (`from elephas.enums.frequency import Frequency`)."""
from enum import Enum


class Frequency(str, Enum):
    EPOCH = "epoch"
    BATCH = "batch"

    def __str__(self):
        return self.value
