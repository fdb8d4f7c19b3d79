"""Every error sparkeras raises on purpose derives from SparkerasError, so one except
clause catches them all; each also keeps the built-in base its callers expect."""


class SparkerasError(Exception):
    """Base class of sparkeras's own errors."""


class ModelSpecError(SparkerasError, ValueError):
    """The model or the data cannot be trained as given; the message says what to change."""


class TrainingFailed(SparkerasError, RuntimeError):
    """Training failed on an executor. When the worker could report its failure, the
    exception's type name, message, traceback and partition are attributes."""

    def __init__(self, message, exception_type=None, worker_message=None, partition=None, attempt=None,
                 worker_traceback=None):
        super().__init__(message)
        self.exception_type = exception_type
        self.worker_message = worker_message
        self.partition = partition
        self.attempt = attempt
        self.worker_traceback = worker_traceback


class ServerError(SparkerasError, RuntimeError):
    """The parameter server refused a request; the message says why."""


class UnsafeLoadRefused(SparkerasError, RuntimeError):
    """A saved stage holds pickled code, and loading it was not explicitly allowed."""


class JarVersionMismatch(SparkerasError, RuntimeError):
    """The jar on the driver's classpath is not the one this Python package was built with."""


class ClassicSessionRequired(SparkerasError, RuntimeError):
    """A classic-only API (RDDs, py4j) was used from a Spark Connect client; the message names
    the Connect-ready alternative."""
