"""The one stage launcher: runs an executor-side function once per worker over an RDD or
a DataFrame, and collects what each returns.

Sources differ only in how rows reach the worker (pickled rows, or Arrow record
batches); everything else is here once: how many workers, several partitions per
worker, the task-slot check for barrier stages, the barrier fallback, the job tag the
coordinator cancels on a worker's failure. The functions shipped to executors refer
only to the executor layer, so a worker never imports driver code.
"""
import contextlib

from sparkeras.driver.session import task_slots, use_driver_python_locally
from sparkeras.errors import ModelSpecError
from sparkeras.executor import feed

_BARRIER_REFUSED = "Barrier execution mode does not allow"


class RowSource:
    """An RDD of rows: (features, label) pairs, bare features, or (with blocks=True)
    ready-made blocks ([per-input arrays], labels). For a model with several `inputs`,
    features are a tuple of per-input arrays; with several `outputs`, labels a tuple of
    per-output labels."""

    def __init__(self, rdd, with_labels=True, blocks=False, inputs=1, outputs=1):
        self.rdd, self.with_labels, self.blocks, self.inputs, self.outputs = rdd, with_labels, blocks, inputs, outputs

    @property
    def context(self):
        return use_driver_python_locally(self.rdd.context)

    def partitions(self):
        return self.rdd.getNumPartitions()

    def _with(self, rdd):
        return RowSource(rdd, self.with_labels, self.blocks, self.inputs, self.outputs)

    def coalesce(self, n):
        return self._with(self.rdd.coalesce(n))

    def repartition(self, n):
        return self._with(self.rdd.repartition(n))

    def collect(self, work, barrier):
        with_labels, blocks, inputs, outputs = self.with_labels, self.blocks, self.inputs, self.outputs

        def run(rows):
            from pyspark import TaskContext
            ctx = TaskContext.get()
            source = iter(rows) if blocks else feed.blocks_from_rows(rows, with_labels, inputs, outputs=outputs)
            yield work(source, ctx.partitionId(), ctx.attemptNumber())

        if not barrier:
            return self.rdd.mapPartitions(run).collect()
        # A shuffle after the barrier stage makes it a map stage, which Spark retries as a
        # whole when a task is lost (a failed barrier result stage is aborted instead).
        return self.rdd.barrier().mapPartitions(run).repartition(1).collect()


class FrameSource:
    """A DataFrame of flat array columns f0..fk (and y), as sparkeras.driver.columns makes
    it, read by the workers through Arrow record batches."""

    def __init__(self, frame, shapes, with_labels=True):
        self.frame, self.shapes, self.with_labels = frame, [tuple(s) for s in shapes], with_labels

    @property
    def context(self):
        return use_driver_python_locally(self.frame.sparkSession.sparkContext)

    def partitions(self):
        return self.frame.rdd.getNumPartitions()

    def coalesce(self, n):
        return FrameSource(self.frame.coalesce(n), self.shapes, self.with_labels)

    def repartition(self, n):
        return FrameSource(self.frame.repartition(n), self.shapes, self.with_labels)

    def collect(self, work, barrier):
        shapes, with_labels = self.shapes, self.with_labels

        def run(batches):
            import pyarrow as pa
            from pyspark import TaskContext
            ctx = TaskContext.get()
            result = work(feed.blocks_from_arrow(batches, shapes, with_labels), ctx.partitionId(), ctx.attemptNumber())
            yield pa.RecordBatch.from_pylist([{"result": result}])

        results = self.frame.mapInArrow(run, "result binary", barrier=barrier)
        # As for RowSource: a barrier map stage is retried by Spark; a barrier result stage is not.
        rows = (results.repartition(1) if barrier else results).collect()
        return [bytes(r["result"]) for r in rows]


def plan_workers(sc, requested, barrier):
    """How many workers a stage runs; a barrier stage needs a task slot for each, at once."""
    workers = int(requested or sc.defaultParallelism)
    if workers < 1:
        raise ModelSpecError(f"num_workers must be at least 1; got {requested}")
    if barrier:
        slots = task_slots(sc)
        if workers > slots:
            raise ModelSpecError(
                f"synchronous training runs one barrier task per worker, all at once: num_workers={workers} "
                f"but the cluster has {slots} task slots. Lower num_workers or add executors")
    return workers


def run(source, work, workers, barrier=False, job_tag=None):
    """Runs `work(blocks, partition, attempt)` in `workers` tasks; returns their results in
    partition order. A source with more partitions than workers is coalesced, so each
    worker streams several partitions; one with fewer is repartitioned."""
    n = source.partitions()
    if n > workers and not barrier:
        source = source.coalesce(workers)
    elif n != workers:
        # A barrier stage must have one task per partition of every RDD in it: a shuffle.
        source = source.repartition(workers)
    with _tagged(source.context, job_tag):
        try:
            return source.collect(work, barrier)
        except Exception as e:
            # Spark refuses barrier stages over some lineages (union, coalesce, ...) before any
            # task starts; a shuffle gives the stage a clean start.
            if not (barrier and _BARRIER_REFUSED in str(e)):
                raise
            return source.repartition(workers).collect(work, barrier)


@contextlib.contextmanager
def _tagged(sc, tag):
    """Spark jobs started in this block carry `tag`, so that they can be cancelled together."""
    if not tag:
        yield
        return
    sc.addJobTag(tag)
    try:
        yield
    finally:
        sc.removeJobTag(tag)


def first_row(rdd):
    """The first row, read so that the Python worker stays reusable: `take` stops reading
    a partition early, and PySpark then discards the worker (a TensorFlow process that
    takes seconds to start again)."""
    def first_and_drain(rows):
        found, first = False, None
        for row in rows:
            if not found:
                found, first = True, row
        return [(found, first)]

    for partition in range(rdd.getNumPartitions()):
        [(found, row)] = rdd.context.runJob(rdd, first_and_drain, [partition])
        if found:
            return row
    return None
