"""Python workers started by the JVM for the Scala stages (`python -m sparkeras.executor`).

Frames on standard input and output are the wire contract's length-prefixed Envelopes,
so rows arrive in DataBatch frames of raw tensor bytes. Commands:

  train    train on the DataBatch frames of one partition, through the parameter server
  predict  answer every DataBatch frame (the last one too) with the model's predictions
  serve    run such commands one after another (the JVM's pool of Python workers)
"""
import argparse
import json
import os

from sparkeras.executor.feed import blocks_from_data_batches
from sparkeras.executor.inference import ModelHandle, predict_array
from sparkeras.executor.training import TrainingTask
from sparkeras.wire import sparkeras_pb2 as wire
from sparkeras.wire.codec import to_tensor
from sparkeras.wire.connection import read_frame, write_frame
from sparkeras.wire.pipe_commands import command_main


def data_batches(stream):
    """DataBatch messages until the one marked last (or the end of the stream)."""
    while True:
        env = read_frame(stream)
        if env is None or env.WhichOneof("body") != "data_batch":
            return
        yield env.data_batch
        if env.data_batch.last:
            return


def train(args, stdin, stdout):
    task = TrainingTask(args.host, args.port, args.token, args.job, args.threads, args.validation_split,
                        tls=args.tls_trust)
    result = task.run(blocks_from_data_batches(data_batches(stdin)), args.partition, args.attempt)
    result["pid"] = os.getpid()  # which pooled process ran it
    env = wire.Envelope()
    env.worker_output.result_json = json.dumps(result)
    write_frame(stdout, env)


_last_model = {}  # the model a pooled process predicted with last, by its key


def predict(args, stdin, stdout):
    key = args.key or args.model
    handle = _last_model.get(key)
    if handle is None:
        import keras  # the model arrives as a .keras file
        model = keras.models.load_model(args.model, compile=False)
        # keyed by the file's digest: the next task of the same transform skips loading it
        handle = ModelHandle(key, model.get_weights(), model.to_json(), threads=args.threads)
        _last_model.clear()
        _last_model[key] = handle
    for batch in data_batches(stdin):
        env = wire.Envelope()
        if batch.features:
            for xs, _ in blocks_from_data_batches([batch], with_labels=False):
                to_tensor(predict_array(handle, xs), out=env.worker_output.predictions)
        write_frame(stdout, env)


COMMANDS = {"train": train, "predict": predict}


def parser():
    parser = argparse.ArgumentParser(prog="python -m sparkeras.executor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--host", required=True)
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--token", required=True)
    t.add_argument("--tls-trust", default=None, help="PEM certificates to trust when the server speaks TLS")
    t.add_argument("--job", required=True)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--validation-split", type=float, default=0.0)
    t.add_argument("--partition", type=int, default=0)
    t.add_argument("--attempt", type=int, default=0)
    p = sub.add_parser("predict")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--key", default=None, help="names the model's weights (a digest of the file)")
    sub.add_parser("serve")
    return parser


def main(argv=None):
    command_main(parser(), lambda args, stdin, stdout: COMMANDS[args.command](args, stdin, stdout), argv)
