"""Checkpoint and resume for one fit: the driver JVM writes the job's state (weights, the
server optimizer's state, per-partition progress, history) to `checkpoint_dir` at epoch
boundaries; a fit given a directory holding a checkpoint of the same job starts from it,
and its workers skip the steps it holds, as after a task retry."""
import dataclasses
import json
import warnings

from sparkeras import logs
from sparkeras.errors import ModelSpecError


def seed_for_resume(coordinator, args):
    """(args, resume): a resumed fit shuffles with the checkpointed job's seed, so that it
    skips exactly the rows the interrupted run had trained on."""
    if not args.checkpoint_dir:
        return args, False
    resume = True if args.resume is None else bool(args.resume)
    latest = coordinator.latestCheckpoint(str(args.checkpoint_dir)) if resume else None
    if not latest:
        return args, resume
    saved = json.loads(latest)
    if args.seed is not None and int(args.seed) != int(saved["seed"]):
        raise ModelSpecError(
            f"the checkpoint in {args.checkpoint_dir} was trained with seed={saved['seed']}, this fit asks for "
            f"seed={args.seed}; drop the seed to resume, or pass resume=False to start afresh")
    return dataclasses.replace(args, seed=int(saved["seed"])), resume


def start(coordinator, args, resume):
    """Turns checkpoints on for the configured job (restoring the newest one when resuming);
    returns the number of epochs the job starts with done."""
    if not args.checkpoint_dir:
        return 0
    try:
        done = int(coordinator.useCheckpoints(str(args.checkpoint_dir), int(args.checkpoint_every),
                                              int(args.keep_checkpoints), resume))
    except Exception as e:  # py4j wraps the JVM's IllegalArgumentException
        message = str(getattr(e, "java_exception", e))
        raise ModelSpecError(message.split("IllegalArgumentException: ", 1)[-1].strip()) from None
    if done and args.verbose:
        logs.logger().info(f"resuming from the checkpoint in {args.checkpoint_dir} after {done} epochs")
    return done


def report_failure(coordinator):
    """A checkpoint that could not be written does not stop training; say so once."""
    error = coordinator.checkpointError()
    if error:
        warnings.warn(f"sparkeras: {error}", RuntimeWarning, stacklevel=3)
