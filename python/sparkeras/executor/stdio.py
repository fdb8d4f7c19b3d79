"""Python workers started by the JVM for the Scala stages (`python -m sparkeras.executor`).

Frames on standard input and output are the wire contract's length-prefixed Envelopes,
so rows arrive in DataBatch frames of raw tensor bytes. Commands:

  train    train on the DataBatch frames of one partition, through the parameter server
  predict  answer every DataBatch frame with the model's predictions
"""
import argparse
import json
import os
import sys
import traceback

from sparkeras.executor.feed import blocks_from_data_batches
from sparkeras.executor.inference import ModelHandle, predict_array
from sparkeras.executor.training import TrainingTask
from sparkeras.wire import sparkeras_pb2 as wire
from sparkeras.wire.codec import to_tensor
from sparkeras.wire.connection import read_frame, write_frame


def data_batches(stream):
    """DataBatch messages until the one marked last (or the end of the stream)."""
    while True:
        env = read_frame(stream)
        if env is None or env.WhichOneof("body") != "data_batch":
            return
        yield env.data_batch
        if env.data_batch.last:
            return


def train(args):
    task = TrainingTask(args.host, args.port, args.token, args.job, args.threads, args.validation_split)
    result = task.run(blocks_from_data_batches(data_batches(sys.stdin.buffer)), args.partition, args.attempt)
    env = wire.Envelope()
    env.worker_output.result_json = json.dumps(result)
    write_frame(sys.stdout.buffer, env)


def predict(args):
    import keras  # the model arrives as a .keras file
    model = keras.models.load_model(args.model, compile=False)
    handle = ModelHandle(args.model, model.get_weights(), model.to_json(), threads=args.threads)
    for batch in data_batches(sys.stdin.buffer):
        env = wire.Envelope()
        if batch.features:
            for xs, _ in blocks_from_data_batches([batch], with_labels=False):
                to_tensor(predict_array(handle, xs), out=env.worker_output.predictions)
        write_frame(sys.stdout.buffer, env)


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="python -m sparkeras.executor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--host", required=True)
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--token", required=True)
    t.add_argument("--job", required=True)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--validation-split", type=float, default=0.0)
    t.add_argument("--partition", type=int, default=0)
    t.add_argument("--attempt", type=int, default=0)
    p = sub.add_parser("predict")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        {"train": train, "predict": predict}[args.command](args)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        sys.exit(1)
