"""A partition as it reaches a worker, streamed in bounded blocks, and kept for later
epochs in a spill file on the executor's local disk.

Every source (RDD rows, Arrow record batches, DataBatch frames from the JVM) becomes
an iterator of blocks: (xs, y), xs a list of per-input float32 arrays and y the labels:
one array, a list of per-output arrays for a model with several outputs, or None when
predicting. No source is ever held whole in memory.
"""
import os
import tempfile

import numpy as np

from sparkeras.errors import ModelSpecError
from sparkeras.executor.arrays import labels
from sparkeras.wire.codec import from_tensor

BLOCK_ROWS = 4096
# Rows held at once while shuffling an epoch: the larger, the closer to a full shuffle.
SHUFFLE_BUFFER_BYTES = 32 << 20


def blocks_from_rows(rows, with_labels=True, inputs=1, block_rows=BLOCK_ROWS, outputs=1):
    """RDD rows, (features, label) pairs, (features, label, sample weight) triples or bare
    features, in blocks. A model with several inputs takes features as a tuple/list of
    arrays, one per input; a model with several outputs takes the label as a tuple/list,
    one per output. Weighted rows make blocks (xs, y, w)."""
    xs, ys, ws = [], [], []
    for row in rows:
        if with_labels:
            if len(row) == 3:
                x, y, w = row
                ws.append(w)
            else:
                x, y = row
            ys.append(y)
        else:
            x = row
        xs.append(x)
        if len(xs) == block_rows:
            yield _weighted(_stack(xs, ys if with_labels else None, inputs, outputs), ws, len(xs))
            xs, ys, ws = [], [], []
    if xs:
        yield _weighted(_stack(xs, ys if with_labels else None, inputs, outputs), ws, len(xs))


def _weighted(block, ws, n):
    if not ws:
        return block
    if len(ws) != n:
        raise ModelSpecError("some rows carry a sample weight (a third element) and others do not; give all or none")
    return block + (np.asarray(ws, dtype=np.float32).reshape(n),)


def _stack(xs, ys, inputs, n_outputs=1):
    features = stack_features(xs, inputs)
    return _with_labels(features, ys, n_outputs)


def _shapes(inputs):
    """`inputs` is the model's per-row input shapes (a list) or, from older callers, a count."""
    return list(inputs) if isinstance(inputs, (list, tuple)) else [None] * int(inputs)


def stack_features(xs, inputs):
    """Feature rows as one float32 array per model input, each shaped (rows,) + the input's shape.

    A row is a tuple/list with one array per input, or one flat array (or number) for all
    inputs together, split across the inputs in order by their sizes (equal widths, as
    elephas's np.hsplit, when the sizes are unknown); a number feeds a one-value input."""
    shapes = _shapes(inputs)
    first = xs[0]
    if len(shapes) > 1 and isinstance(first, (tuple, list)) and len(first) == len(shapes) \
            and not all(np.ndim(v) == 0 for v in first):
        arrays = [np.stack([np.asarray(x[i], dtype=np.float32) for x in xs]) for i in range(len(shapes))]
    else:
        flat = np.stack([np.asarray(x, dtype=np.float32) for x in xs])
        arrays = _split_inputs(flat.reshape(len(xs), -1) if len(shapes) > 1 else flat, shapes)
    return [_fit_shape(a, shape) for a, shape in zip(arrays, shapes)]


def split_array(x, inputs):
    """A whole array of feature rows (numbers, flat rows or shaped rows) as one array per input."""
    shapes = _shapes(inputs)
    x = np.asarray(x, dtype=np.float32)
    arrays = _split_inputs(x.reshape(len(x), -1) if len(shapes) > 1 else x, shapes)
    return [_fit_shape(a, shape) for a, shape in zip(arrays, shapes)]


def _split_inputs(flat, shapes):
    if len(shapes) == 1:
        return [flat]
    width = flat.shape[1]
    if all(s is not None and None not in s for s in shapes):
        sizes = [int(np.prod(s)) for s in shapes]
        if sum(sizes) != width:
            raise ModelSpecError(f"each row has {width} feature values but the model's {len(shapes)} inputs take "
                                 f"{' + '.join(map(str, sizes))} = {sum(sizes)}; give each row as a tuple of "
                                 "per-input arrays, or one flat array of all of them in the order of model.inputs")
        return np.split(flat, np.cumsum(sizes)[:-1], axis=1)
    if width % len(shapes):
        raise ModelSpecError(f"each row has {width} feature values, which do not split evenly across the model's "
                             f"{len(shapes)} inputs; give each row as a tuple of per-input arrays")
    return np.hsplit(flat, len(shapes))


def _fit_shape(array, shape):
    """A number per row for a one-value input, or a flat row for an image or sequence input,
    reshaped to the input's shape; anything else is left for the shape check to report."""
    if shape is None or None in shape or array.shape[1:] == tuple(shape):
        return array
    if int(np.prod(array.shape[1:])) == int(np.prod(shape)):
        return array.reshape((len(array),) + tuple(shape))
    return array


def _with_labels(inputs, ys, n_outputs):
    if ys is None:
        return inputs, None
    if n_outputs > 1:
        if not isinstance(ys[0], (tuple, list)) or len(ys[0]) != n_outputs:
            raise ModelSpecError(f"the model has {n_outputs} outputs: each row's label must be a tuple of "
                                 f"{n_outputs} labels, one per output in the order of model.outputs")
        return inputs, [labels(np.stack([np.asarray(y[i]) for y in ys])) for i in range(n_outputs)]
    return inputs, labels(np.stack([np.asarray(y) for y in ys]))


def blocks_from_arrow(batches, shapes, with_labels=True):
    """Arrow record batches of flat array columns f0..fk (and y) in blocks shaped for the model."""
    import pyarrow as pa  # only DataFrame sources need it
    for batch in batches:
        if batch.num_rows == 0:
            continue
        xs = []
        for i, shape in enumerate(shapes):
            values = batch.column(f"f{i}").flatten().to_numpy(zero_copy_only=False)
            xs.append(values.astype(np.float32, copy=False).reshape((batch.num_rows,) + tuple(shape)))
        y = None
        if with_labels:
            column = batch.column("y")
            if pa.types.is_list(column.type):
                y = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(batch.num_rows, -1)
            else:
                y = labels(column.to_numpy(zero_copy_only=False))
        yield xs, y


def blocks_from_data_batches(batches, with_labels=True):
    """DataBatch messages (raw tensor bytes sent by the JVM) as blocks."""
    for batch in batches:
        if not batch.features:
            continue
        xs = [np.array(from_tensor(t), dtype=np.float32) for t in batch.features]
        yield xs, (labels(from_tensor(batch.labels)) if with_labels else None)


def local_dir():
    """The executor's scratch directory (Spark gives Python workers SPARK_LOCAL_DIRS)."""
    for d in os.environ.get("SPARK_LOCAL_DIRS", "").split(","):
        if d and os.path.isdir(d):
            return d
    return tempfile.gettempdir()


class _Column:
    """One array of the partition (an input, or the labels) as fixed-size rows in a file
    that is unlinked as soon as it is open: it goes away with the process, killed or not."""

    def __init__(self, directory, first):
        self.dtype = first.dtype
        self.row_shape = first.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self.file = tempfile.TemporaryFile(dir=directory, prefix="sparkeras-spill-")

    def append(self, block, what, first_row):
        if block.shape[1:] != self.row_shape:
            raise ModelSpecError(f"{what} changes shape within the partition: {block.shape[1:]} after {self.row_shape}")
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            bad = int(np.argmin(np.isfinite(block.reshape(len(block), -1)).all(axis=1)))
            raise ModelSpecError(
                f"NaN or infinity in {what} at row {first_row + bad} of this partition (the rows read by this "
                "worker, counted from 0); Keras would train the model to NaN. Drop or fill those rows first")
        self.file.write(np.ascontiguousarray(block, dtype=self.dtype).data)

    def read(self, start, stop, out=None):
        """Rows [start, stop), into `out` (an array of at least that many rows) when given."""
        if out is None:
            out = np.empty((stop - start,) + self.row_shape, dtype=self.dtype)
        else:
            out = out[:stop - start]
        self.file.seek(start * self.row_bytes)
        view = memoryview(out).cast("B")
        got = self.file.readinto(view)
        if got != view.nbytes:
            raise IOError(f"spill file ended early: {got} of {view.nbytes} bytes")
        return out

    def close(self):
        self.file.close()


class Spill:
    """A partition streamed once from its source into local files, then read back in
    bounded, shuffled windows every epoch. Memory use is one block while writing and
    one shuffle window while reading, whatever the partition's size."""

    def __init__(self, blocks, directory=None, buffer_bytes=SHUFFLE_BUFFER_BYTES):
        directory = directory or local_dir()
        self.inputs, self.labels, self.rows = None, None, 0
        self.multi_output = False  # labels as a list, one array per output
        self.weights = None  # a column of per-row sample weights, when the rows carry them
        for xs, y, *w in blocks:
            ys = list(y) if isinstance(y, list) else ([] if y is None else [np.asarray(y)])
            if self.inputs is None:
                self.multi_output = isinstance(y, list)
                self.inputs = [_Column(directory, x) for x in xs]
                self.labels = [_Column(directory, a) for a in ys]
                self.weights = _Column(directory, w[0]) if w else None
                self.first = ([x[:1].copy() for x in xs], self._y([a[:1].copy() for a in ys]))
            elif bool(w) != (self.weights is not None):
                raise ModelSpecError("some rows carry a sample weight (a third element) and others do not; "
                                     "give all or none")
            elif len(xs) != len(self.inputs):
                raise ModelSpecError(f"rows of this partition feed {len(xs)} inputs after {len(self.inputs)}")
            for i, (column, x) in enumerate(zip(self.inputs, xs)):
                column.append(x, f"the features of input {i}" if len(xs) > 1 else "the features", self.rows)
            for i, (column, a) in enumerate(zip(self.labels, ys)):
                column.append(np.asarray(a), f"the label of output {i}" if self.multi_output else "the label", self.rows)
            if w:
                if (w[0] < 0).any():
                    raise ModelSpecError(f"a negative sample weight at row {self.rows + int(np.argmax(w[0] < 0))} of "
                                         "this partition; weights must be finite and non-negative")
                self.weights.append(w[0], "the sample weight", self.rows)
            self.rows += len(xs[0])
        for column in self._columns():
            column.file.flush()
        row_bytes = sum(c.row_bytes for c in self._columns())
        self.window_rows = max(1, buffer_bytes // max(1, row_bytes))

    def _columns(self):
        return (self.inputs or []) + (self.labels or []) + ([self.weights] if self.weights is not None else [])

    def _split(self, arrays):
        """(xs, y) from arrays in column order, with the weights third when there are any."""
        n_in, n_out = len(self.inputs), len(self.labels)
        block = (arrays[:n_in], self._y(arrays[n_in:n_in + n_out]))
        return block + (arrays[-1],) if self.weights is not None else block

    def _y(self, arrays):
        """The labels as the model takes them: None, one array, or a list per output."""
        if not arrays:
            return None
        return list(arrays) if self.multi_output else arrays[0]

    def read(self, start, stop):
        """Rows [start, stop): (xs, y), or (xs, y, w) when the rows carry sample weights."""
        return self._split([c.read(start, stop) for c in self._columns()])

    def blocks(self, start, stop, block_rows=BLOCK_ROWS):
        """Rows [start, stop) in order, in blocks."""
        for i in range(start, stop, block_rows):
            yield self.read(i, min(stop, i + block_rows))

    def batches(self, start, stop, batch_size, rng=None, steps=None):
        """Mini-batches over rows [start, stop): one pass, shuffled when `rng` is given.

        With `steps`, exactly that many batches: full ones, passing over the rows again as
        needed (synchronous workers with fewer rows wrap around), except that rows which
        make exactly `steps` batches end with a partial one, as in Keras. Shuffling permutes the
        order of row chunks, then the rows of each window of chunks; each batch gathers
        its rows from the window, which is one buffer per array, allocated once.
        """
        n = stop - start
        if n <= 0:
            return
        if steps is not None and -(-n // batch_size) == steps:
            steps = None  # the largest partition ends with a partial batch, as model.fit's last batch is
        columns = self._columns()
        window = min(n, self.window_rows)
        chunk = max(1, min(window, max(batch_size, window // 4)))
        chunks_per_window = max(1, window // chunk)
        loaded = [np.empty((chunks_per_window * chunk,) + c.row_shape, c.dtype) for c in columns]
        carry, emitted = None, 0
        while True:
            starts = np.arange(start, stop, chunk)
            if rng is not None:
                starts = rng.permutation(starts)
            for w in range(0, len(starts), chunks_per_window):
                fill = 0
                for s0 in starts[w:w + chunks_per_window]:
                    s1 = min(stop, s0 + chunk)
                    for c, buf in zip(columns, loaded):
                        c.read(s0, s1, buf[fill:])
                    fill += s1 - s0
                order = rng.permutation(fill) if rng is not None else np.arange(fill)
                pos = 0
                if carry is not None:  # the rows left over from the last window start this one's first batch
                    pos = min(fill, batch_size - len(carry[0]))
                    carry = [np.concatenate([c, a[order[:pos]]]) for c, a in zip(carry, loaded)]
                    if len(carry[0]) < batch_size:
                        continue
                    yield self._split(carry)
                    carry, emitted = None, emitted + 1
                    if emitted == steps:
                        return
                while pos + batch_size <= fill:
                    idx = order[pos:pos + batch_size]
                    yield self._split([a[idx] for a in loaded])
                    pos, emitted = pos + batch_size, emitted + 1
                    if emitted == steps:
                        return
                if pos < fill:
                    carry = [a[order[pos:fill]] for a in loaded]
            if steps is None:
                if carry is not None:
                    yield self._split(carry)
                return

    def close(self):
        for column in self._columns():
            column.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
