"""Driver-side Python helpers for the Scala stages (`python -m sparkeras.driver.jvm_commands`).

The Scala driver has no Keras of its own; it runs these short processes next to it:

  describe  read a .keras file, send its job configuration to the parameter server, print its shapes
  inspect   print a .keras file's input shapes, output width and task
  save      pull the trained weights into the .keras model and write it, print the History

Each prints one line of JSON on standard output; a failure prints its traceback on
standard error and exits 1. `serve` runs them one after another in one process (the JVM's
pool), answering each with a WorkerOutput frame holding that JSON.
"""
import argparse
import json
import sys

from sparkeras.driver import algorithms, ensemble, job_config, model_spec
from sparkeras.driver.job_config import FitArguments, TrainingSettings
from sparkeras.wire import sparkeras_pb2 as wire
from sparkeras.wire.codec import from_tensor
from sparkeras.wire.connection import Connection, envelope, write_frame
from sparkeras.wire.pipe_commands import command_main


def _load(path):
    import keras  # the Scala stages hand over .keras files
    return keras.models.load_model(path, compile=True)


def _description(model):
    return {"input_shapes": model_spec.input_shapes(model), "outputs": model_spec.output_width(model),
            "task": model_spec.infer_task(model)}


def describe(args):
    model = _load(args.model)
    if args.learning_rate is not None:
        model_spec.override_learning_rate(model, args.learning_rate)
    params = json.loads(args.algorithm_params or "{}")
    window = params.pop("communication_window", None)
    chosen = algorithms.resolve(args.algorithm, args.mode, args.frequency, None if window is None else int(window),
                                **params)
    settings = TrainingSettings(mode=args.mode, frequency=args.frequency or "epoch", algorithm=chosen)
    job_config.check_trainable(model, settings)
    fit = FitArguments(epochs=args.epochs, batch_size=args.batch_size, validation_split=args.validation_split,
                       seed=args.seed)
    with Connection(args.host, args.port, tls=args.tls_trust) as conn:
        conn.hello(args.token, wire.DRIVER)
        conn.call(envelope(job_config=job_config.build(model, settings, args.workers, fit)))
        conn.call(envelope(push=job_config.initial_weights_push(model)))
    return _description(model)


def inspect(args):
    return _description(_load(args.model))


def save(args):
    model = _load(args.model)
    with Connection(args.host, args.port, tls=args.tls_trust) as conn:
        conn.hello(args.token, wire.DRIVER)
        weights = conn.pull(end_of_training=True)  # the optimizer finishes them (use_ema)
        history = conn.history()
        state = conn.worker_state()
        members = conn.members()  # the ensemble algorithm's models (none for the others)
    job_config.assign_trainable(model, from_tensor(weights.values))
    if members:
        model = ensemble.average_ensemble(ensemble.members_from_wire(model, members), name=f"{model.name}_ensemble")
    else:
        job_config.assign_state(model, state)
    model.save(args.out)
    return {name: [row.values[name] for row in history.epochs if name in row.values] for name in history.names}


COMMANDS = {"describe": describe, "inspect": inspect, "save": save}


def _answer(args, stdin, stdout):
    """One line of JSON on standard output; in the pool, a WorkerOutput frame holding it."""
    result = json.dumps(COMMANDS[args.command](args))
    if stdout is sys.stdout.buffer:
        print(result)
    else:
        env = wire.Envelope()
        env.worker_output.result_json = result
        write_frame(stdout, env)


def main(argv=None):
    command_main(_parser(), _answer, argv)


def _parser():
    parser = argparse.ArgumentParser(prog="python -m sparkeras.driver.jvm_commands", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("--host", required=True)
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--token", required=True)
    server.add_argument("--tls-trust", default=None, help="PEM certificates to trust when the server speaks TLS")
    d = sub.add_parser("describe", parents=[server])
    d.add_argument("--model", required=True)
    d.add_argument("--mode", default="asynchronous")
    d.add_argument("--frequency", default=None)
    d.add_argument("--algorithm", default=None)
    d.add_argument("--algorithm-params", default=None, help="the algorithm's parameters as JSON")
    d.add_argument("--workers", type=int, required=True)
    d.add_argument("--epochs", type=int, default=10)
    d.add_argument("--batch-size", type=int, default=32)
    d.add_argument("--validation-split", type=float, default=0.0)
    d.add_argument("--learning-rate", type=float, default=None)
    d.add_argument("--seed", type=int, default=None)
    i = sub.add_parser("inspect")
    i.add_argument("--model", required=True)
    s = sub.add_parser("save", parents=[server])
    s.add_argument("--model", required=True)
    s.add_argument("--out", required=True)
    sub.add_parser("serve")
    return parser


if __name__ == "__main__":
    main()
