"""The `sparkeras` logger (standard logging) that everything the project says goes through.

Shown on stderr at INFO by default, as `sparkeras: <message>`, unless the application has
configured logging itself (a handler on the root logger), in which case the records
propagate there. Quieter: `logging.getLogger("sparkeras").setLevel(logging.WARNING)`.
"""
import logging
import sys

NAME = "sparkeras"


def logger():
    """The package's logger, with its default console handler on first use (see above)."""
    log = logging.getLogger(NAME)
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("sparkeras: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
        if log.level == logging.NOTSET:
            log.setLevel(logging.INFO)
    return log
