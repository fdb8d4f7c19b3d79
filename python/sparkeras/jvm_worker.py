"""Python processes started by the JVM for the Scala API (`python -m sparkeras.worker`).

Frames on standard input and output are the wire contract's length-prefixed Envelopes,
so rows arrive in batches as raw tensor bytes. Commands:

  describe  read a .keras file, send its job configuration to the parameter server, print its input shapes
  inspect   print a .keras file's input shapes, output width and task
  train     train on the DataBatch frames of one partition, through the parameter server
  predict   answer every DataBatch frame with the model's predictions
  save      pull the trained weights into the .keras model and write it
"""
import argparse
import json
import os
import struct
import sys
import traceback

import numpy as np

_HEADER = struct.Struct(">I")


def _read_frame(stream):
    from sparkeras.wire import sparkeras_pb2 as wire
    header = stream.read(4)
    if len(header) < 4:
        return None
    (length,) = _HEADER.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        raise EOFError("standard input closed inside a frame")
    return wire.Envelope.FromString(payload)


def _write_frame(stream, envelope):
    payload = envelope.SerializeToString()
    stream.write(_HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _batches(stream):
    while True:
        env = _read_frame(stream)
        if env is None or env.WhichOneof("body") != "data_batch":
            return
        yield env.data_batch
        if env.data_batch.last:
            return


def _stack(batches, with_labels):
    from sparkeras.transport import from_tensor
    xs, ys = None, []
    for b in batches:
        if not b.features:
            continue
        parts = [np.array(from_tensor(t), dtype=np.float32) for t in b.features]
        xs = [[p] for p in parts] if xs is None else [acc + [p] for acc, p in zip(xs, parts)]
        if with_labels:
            ys.append(np.array(from_tensor(b.labels)))
    if xs is None:
        return None, None
    x = [np.concatenate(parts) for parts in xs]
    return (x[0] if len(x) == 1 else x), (np.concatenate(ys) if with_labels else None)


def _load(path, custom_objects=None):
    import keras
    return keras.models.load_model(path, custom_objects=custom_objects, compile=True)


def describe(args):
    from sparkeras import model_spec
    from sparkeras.ml.data import input_shapes
    from sparkeras.ml.estimator import infer_task
    from sparkeras.spark_model import SparkModel
    from sparkeras.transport import Connection
    from sparkeras.wire import sparkeras_pb2 as wire
    model = _load(args.model)
    model_spec.check_compiled(model)
    spark_model = SparkModel(model, mode=args.mode, frequency=args.frequency, num_workers=args.workers)
    rule, params = model_spec.server_rule(model, args.frequency, 1)
    config = spark_model._job_config(model, rule, params, args.workers, args.epochs, args.batch_size,
                                     args.validation_split, True, args.seed)
    with Connection(args.host, args.port) as conn:
        conn.hello(args.token, wire.DRIVER)
        env = wire.Envelope()
        env.job_config.CopyFrom(config)
        conn.call(env)
    outputs = int(np.prod(model.outputs[0].shape[1:]))
    print(json.dumps({"input_shapes": input_shapes(model), "outputs": outputs, "task": infer_task(model)}))


def inspect(args):
    from sparkeras.ml.data import input_shapes
    from sparkeras.ml.estimator import infer_task
    model = _load(args.model)
    outputs = int(np.prod(model.outputs[0].shape[1:]))
    print(json.dumps({"input_shapes": input_shapes(model), "outputs": outputs, "task": infer_task(model)}))


def train(args):
    from sparkeras import worker
    from sparkeras.wire import sparkeras_pb2 as wire
    x, y = _stack(_batches(sys.stdin.buffer), with_labels=True)
    task = worker.TrainingTask(args.host, args.port, args.token, args.job, args.threads, args.validation_split)
    result = task.run_arrays(x, y, args.partition, args.attempt)
    env = wire.Envelope()
    env.worker_output.result_json = json.dumps(result)
    _write_frame(sys.stdout.buffer, env)


def predict(args):
    from sparkeras import worker
    from sparkeras.transport import to_tensor
    from sparkeras.wire import sparkeras_pb2 as wire
    worker.prepare_process(args.threads)
    model = _load(args.model)
    wm = worker.get_model(model.to_json(), "", None)
    wm.set_weights(args.model, model.get_weights())
    for batch in _batches(sys.stdin.buffer):
        env = wire.Envelope()
        if batch.features:
            x, _ = _stack([batch], with_labels=False)
            out = np.asarray(wm.predict_step(x), dtype=np.float32)
            to_tensor(out.reshape(len(out), -1), out=env.worker_output.predictions)
        _write_frame(sys.stdout.buffer, env)


def save(args):
    from sparkeras.spark_model import _assign_trainable, _history_request, _pull
    from sparkeras.transport import Connection, from_tensor
    from sparkeras.wire import sparkeras_pb2 as wire
    model = _load(args.model)
    with Connection(args.host, args.port) as conn:
        conn.hello(args.token, wire.DRIVER)
        weights = conn.call(_pull()).weights
        history = conn.call(_history_request()).history
    _assign_trainable(model, from_tensor(weights.values))
    model.save(args.out)
    print(json.dumps({name: [row.values[name] for row in history.epochs if name in row.values]
                      for name in history.names}))


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="python -m sparkeras.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("--host", required=True)
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--token", required=True)
    d = sub.add_parser("describe", parents=[server])
    d.add_argument("--model", required=True)
    d.add_argument("--mode", default="asynchronous")
    d.add_argument("--frequency", default="epoch")
    d.add_argument("--workers", type=int, required=True)
    d.add_argument("--epochs", type=int, default=10)
    d.add_argument("--batch-size", type=int, default=32)
    d.add_argument("--validation-split", type=float, default=0.0)
    d.add_argument("--seed", type=int, default=None)
    t = sub.add_parser("train", parents=[server])
    t.add_argument("--job", required=True)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--validation-split", type=float, default=0.0)
    t.add_argument("--partition", type=int, default=0)
    t.add_argument("--attempt", type=int, default=0)
    i = sub.add_parser("inspect")
    i.add_argument("--model", required=True)
    p = sub.add_parser("predict")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=1)
    s = sub.add_parser("save", parents=[server])
    s.add_argument("--model", required=True)
    s.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        {"describe": describe, "inspect": inspect, "train": train, "predict": predict, "save": save}[args.command](args)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        sys.exit(1)
