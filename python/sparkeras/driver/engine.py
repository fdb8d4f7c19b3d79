"""The training engine: one fit of a Keras model, whatever the data's form.

Starts a parameter server in the driver JVM, sends it the job, runs the training stage
through the one launcher, raises a worker's reported failure as TrainingFailed, and
copies the trained weights into the user's Keras model.
"""
import contextlib
import json
import time
import uuid

from sparkeras.driver import bridge, checkpoints, failures, job_config, stage
from sparkeras.driver import ensemble as ensemble_models
from sparkeras.driver.callbacks import CallbackRunner
from sparkeras.driver.history import History
from sparkeras.driver.session import task_threads
from sparkeras.errors import ModelSpecError
from sparkeras.executor.training import TrainingTask
from sparkeras.wire import sparkeras_pb2 as wire
from sparkeras.wire.codec import from_tensor
from sparkeras.wire.connection import Connection, envelope

# The coordinators of the fits running in this driver, by job id (see running_jobs).
_running = {}


def running_jobs():
    """What the fits running in this driver are doing now, for monitoring from another
    thread: per job, the samples the server has applied, epochs recorded, pushes, workers
    lost so far (Spark retries their tasks) and the connected workers' partition, attempt
    and process id."""
    jobs = []
    for job_id, coordinator in list(_running.items()):
        try:
            counters = _counters(coordinator)
            workers = json.loads(coordinator.workers())
        except Exception:  # the job ended meanwhile
            continue
        jobs.append(dict(counters, job_id=job_id, workers=workers, host=coordinator.getHost(),
                         port=coordinator.getPort(), refused_connections=coordinator.refusedConnections(),
                         connection_cap=coordinator.connectionCap(), server_threads=coordinator.serverThreads()))
    return jobs


def _check_driver_heap(coordinator, model, settings, workers, checkpointing=False):
    """Fails before any Spark work when the driver JVM cannot hold the server's state."""
    import numpy as np
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    total = sum(int(np.prod(v.shape)) for v in model.weights)
    optimizer = job_config.server_rule(model, settings)
    shortfall = coordinator.heapShortfall(trainable, total, optimizer.rule, json.dumps(optimizer.params),
                                          workers, settings.mode == "synchronous",
                                          settings.algorithm.name if settings.algorithm else "", bool(checkpointing))
    if shortfall:
        raise ModelSpecError(shortfall)


def _counters(coordinator):
    samples, epochs, pushes, _loss, rounds, _mean, _max, lost = coordinator.progress().split(" ")
    return {"applied_samples": int(samples), "epochs_recorded": int(epochs), "pushes": int(pushes),
            "rounds": int(rounds), "lost_workers": int(lost)}


def fit(model, source, settings, args, num_workers=None, callbacks=()):
    """Trains `model` in place on `source` (a stage source); returns a Keras-style History.
    `callbacks` are Keras callbacks, run on the driver as epochs complete (driver/callbacks.py)."""
    job_config.check_trainable(model, settings)
    ensemble = settings.algorithm is not None and settings.algorithm.name == "ensemble"
    if ensemble and args.checkpoint_dir:
        raise ModelSpecError("algorithm='ensemble' keeps each worker's model on the worker until training ends, so it "
                             "cannot be checkpointed; leave checkpoint_dir unset or choose another algorithm")
    sc = source.context
    barrier = settings.mode == "synchronous"
    workers = stage.plan_workers(sc, num_workers, barrier)
    job_id = uuid.uuid4().hex
    tag = f"sparkeras-{job_id}"
    coordinator = bridge.new_coordinator(sc, settings.max_frame_bytes, tag)
    try:
        host, port, token = coordinator.getHost(), coordinator.getPort(), coordinator.getToken()
        tls = coordinator.getTlsTrust()  # PEM when the server speaks TLS (spark.ssl.*), else None
        with Connection(host, port, tls=tls) as driver:
            driver.hello(token, wire.DRIVER)
            _check_driver_heap(coordinator, model, settings, workers, args.checkpoint_dir)
            args, resume = checkpoints.seed_for_resume(coordinator, args)
            driver.call(envelope(job_config=job_config.build(model, settings, workers, args)))
            driver.call(envelope(push=job_config.initial_weights_push(model)))
            initial_epoch = max(args.initial_epoch, checkpoints.start(coordinator, args, resume))
            task = TrainingTask(host, port, token, job_id, task_threads(sc, settings.threads_per_worker),
                                float(args.validation_split), settings.custom_objects, tls=tls)

            def work(blocks, partition, attempt):
                return json.dumps(task.run(blocks, partition, attempt)).encode()

            started = time.time()
            _running[job_id] = coordinator
            runner = CallbackRunner(callbacks, model, coordinator, token,
                                    {"epochs": args.epochs, "verbose": args.verbose, "steps": None},
                                    initial_epoch, fit_args=args) \
                if callbacks or args.verbose or args.validation_data is not None else None
            with quiet_spark_console(sc, args.verbose), (runner or contextlib.nullcontext()):
                try:
                    results = [json.loads(r) for r in
                               _interruptible(lambda: stage.run(source, work, workers, barrier, tag), sc, tag)]
                except KeyboardInterrupt:
                    # as after an interrupted model.fit, the model holds the weights training had reached
                    job_config.assign_trainable(model, from_tensor(driver.pull().values))
                    raise
                except Exception as e:
                    failure = failures.training_failed(coordinator, e)
                    if not _terminated_on_nan(failure, callbacks, runner):
                        raise failure from e
                    results = []
                finally:
                    _running.pop(job_id, None)
                if runner:
                    runner.drain()
            elapsed = time.time() - started
            weights = driver.pull(end_of_training=True)
            history = driver.history()
            state = driver.worker_state()
            members = driver.members() if ensemble else None
            counters = _counters(coordinator)
            counters["learning_rate"] = coordinator.learningRate()
            counters["iterations"] = coordinator.iterations()
            checkpoints.report_failure(coordinator)
        job_config.assign_trainable(model, from_tensor(weights.values))
        if not ensemble:  # the workers' own models hold their statistics; the model given stays as it was
            job_config.assign_state(model, state)
        job_config.assign_iterations(model, counters["iterations"])
        if runner:
            runner.train_end()
    finally:
        coordinator.stop()
    results.sort(key=lambda r: r["partition"])
    result = History.from_wire(history, {
        "epochs": args.epochs, "batch_size": args.batch_size, "num_workers": workers, "mode": settings.mode,
        "frequency": settings.frequency, "seconds": elapsed,
        "applied_samples": counters["applied_samples"], "lost_workers": counters["lost_workers"],
        "resumed_after_pushes": [r.get("resumed_after_pushes", 0) for r in results],
        "initial_epoch": initial_epoch, "server_learning_rate": counters["learning_rate"], "checkpoint": coordinator.checkpointWritten(),
        "worker_steps": [r.get("steps", 0) for r in results],
        "worker_samples": [r.get("samples", 0) for r in results],
        "worker_seconds": [r.get("seconds", {}) for r in results],
        "worker_train_cpu_seconds": [r.get("train_cpu_seconds") for r in results],
        "worker_peak_rss_mb": [r.get("peak_rss_mb") for r in results]}, first_epoch=args.initial_epoch)
    if settings.algorithm is not None:
        result.params["algorithm"] = settings.algorithm.name
        result.params["algorithm_params"] = dict(settings.algorithm.params,
                                                 communication_window=settings.algorithm.communication_window)
    if settings.mode != "synchronous":
        result.params["staleness"] = History.staleness_from_wire(history, first_epoch=args.initial_epoch)
    # How many of its own steps a worker's gradient may miss: with overlap, each step computes
    # while the previous step's gradient is still on its way (per-batch gradients only).
    result.params["local_staleness"] = int(settings.overlap and settings.mode != "synchronous"
                                           and settings.frequency == "batch" and settings.communication_window == 1
                                           and settings.algorithm is None)
    for epoch in sorted(runner.validation if runner else ()):  # validation_data, evaluated on the driver
        for k, v in runner.validation[epoch].items():
            result.history.setdefault(k, []).append(v)
    if ensemble:
        result.members = ensemble_models.members_from_wire(model, members)
    return result


def _interruptible(job, sc, tag):
    """Runs the blocking Spark job in a thread and waits for it here, so that Ctrl-C reaches
    this thread outside any py4j call: pyspark's own handler (cancelAllJobs over py4j) then
    works, where inside a py4j call it breaks the connection with pages of tracebacks. On
    Ctrl-C the job's tagged Spark jobs are cancelled, the job thread is given time to end,
    and a one-line KeyboardInterrupt is raised."""
    from pyspark import InheritableThread  # the job thread keeps this thread's Spark properties
    outcome = {}

    def run():
        try:
            outcome["value"] = job()
        except BaseException as e:  # re-raised in the caller's thread
            outcome["error"] = e

    thread = InheritableThread(target=run, name="sparkeras-training-stage", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.25)
    except KeyboardInterrupt:
        sc.cancelJobsWithTag(tag)
        thread.join(60)
        raise KeyboardInterrupt("training interrupted: its Spark jobs were cancelled and its parameter server "
                                "stopped; the Keras model holds the weights training had reached") from None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _terminated_on_nan(failure, callbacks, runner):
    """A loss that diverged ends training without an error when a TerminateOnNaN callback
    asked for that, as under model.fit; the server holds the weights from before it."""
    import keras
    stoppers = [c for c in callbacks if isinstance(c, keras.callbacks.TerminateOnNaN)]
    if getattr(failure, "exception_type", None) != "FloatingPointError" or not stoppers or runner is None:
        return False
    for stopper in stoppers:  # prints Keras's own "Invalid loss, terminating training"
        stopper.on_batch_end(runner.next_epoch, {"loss": float("nan")})
    return True


@contextlib.contextmanager
def quiet_spark_console(sc, verbose):
    """With Keras's progress bar on, Spark's own console bar is paused: both draw on the same line."""
    paused = bridge.pause_console_progress(sc) if verbose else None
    try:
        yield
    finally:
        if paused is not None:
            paused.close()
