"""Prints samples seen, epoch and loss from the coordinator while a training stage runs."""
import sys
import threading
import time


class Progress:
    def __init__(self, coordinator, epochs, workers, verbose, interval=5.0):
        self.coordinator, self.epochs, self.workers = coordinator, epochs, workers
        self.verbose, self.interval = verbose, interval
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.verbose:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self):
        started = time.time()
        while not self._stop.wait(self.interval):
            try:
                samples, epochs_done, pushes, loss = self.coordinator.progress().split(" ")[:4]
            except Exception:  # the JVM side may be shutting down
                return
            elapsed = time.time() - started
            print(f"sparkeras: {elapsed:6.1f}s  epoch {int(epochs_done)}/{self.epochs}  pushes {pushes}  "
                  f"samples {samples}  loss {loss}", file=sys.stderr)

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
