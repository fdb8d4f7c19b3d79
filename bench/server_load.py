"""Load on the parameter server from many workers, against a bare TCP echo of the same traffic,
in one run: 4, 16 and 64 simulated workers (numpy buffers, no TensorFlow) each pushing a
gradient and waiting for fresh weights, as per-batch asynchronous training does, for a
118k-parameter and a 1.86M-parameter model (the MNIST MLP and the wide MLP of issue 14).

Workers are threads (one connection each) spread over a few client processes; the server
applies Adam to every push. The echo (bench/jvm/EchoServer.scala, thread per connection)
returns each frame unparsed: the same bytes each way, no parsing, no update. Printed per
case: updates/s and MB/s through each, and the server's fraction of the echo's rate.

    .venv/bin/python bench/server_load.py [--seconds 8] [--workers 4,16,64] [--sizes 118282,1863690]
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

CLIENT_PROCESSES = 4
BATCH = 64


def child(args):
    """One client process: `threads` connections pushing for `seconds`; prints its counts."""
    from sparkeras.wire import sparkeras_pb2 as wire
    from sparkeras.wire.codec import encode_push
    from sparkeras.wire.connection import Connection
    grads = (np.random.default_rng(args.first).standard_normal(args.size) * 1e-3).astype(np.float32)
    counts = [0] * args.threads
    connections = []
    for i in range(args.threads):
        if args.token == "echo":
            connections.append(Connection("127.0.0.1", args.port))
        else:
            c = Connection.open("127.0.0.1", args.port, args.token, wire.WORKER, partition=args.first + i)
            c.join(BATCH)
            connections.append(c)
    go = threading.Event()

    def work(i):
        conn = connections[i]
        go.wait()
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline:
            conn.call_parts(encode_push(wire.GRADIENT, 0, BATCH, grads))  # the reply: the weights (or the echo)
            counts[i] += 1
    threads = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    sys.stdin.readline()  # every process starts together
    go.set()
    for t in threads:
        t.join()
    for c in connections:
        c.close()
    print(json.dumps({"updates": sum(counts)}))


def run_clients(port, token, workers, size, seconds):
    """Updates per second over all workers, the client processes started together."""
    per = [workers // CLIENT_PROCESSES + (1 if i < workers % CLIENT_PROCESSES else 0) for i in range(CLIENT_PROCESSES)]
    procs, first = [], 0
    for n in per:
        if n == 0:
            continue
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--child", "--port", str(port), "--token", token, "--threads", str(n),
             "--first", str(first), "--size", str(size), "--seconds", str(seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        first += n
    time.sleep(3 + workers / 16)  # connected and joined
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    updates = sum(json.loads(p.communicate(timeout=seconds * 10 + 120)[0].strip().splitlines()[-1])["updates"]
                  for p in procs)
    return updates / seconds


def configure(sc, size, workers):
    """A parameter server holding one flat variable of `size` floats, Adam on every push."""
    from sparkeras.driver import bridge
    from sparkeras.wire import sparkeras_pb2 as wire
    from sparkeras.wire.codec import to_tensor
    from sparkeras.wire.connection import Connection
    coordinator = bridge.new_coordinator(sc)
    with Connection(coordinator.getHost(), coordinator.getPort()) as driver:
        driver.hello(coordinator.getToken(), wire.DRIVER)
        env = wire.Envelope()
        cfg = env.job_config
        cfg.mode, cfg.frequency, cfg.num_workers, cfg.epochs, cfg.batch_size = "asynchronous", "batch", workers, 1, BATCH
        cfg.optimizer_class = "adam"
        cfg.optimizer_params["learning_rate"] = 1e-6
        to_tensor(np.zeros(size, np.float32), out=cfg.initial_weights.add())
        cfg.trainable_sizes.append(size)
        driver.call(env)
    return coordinator


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", default="4,16,64")
    parser.add_argument("--sizes", default="118282,1863690")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--port", type=int)
    parser.add_argument("--token")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--size", type=int)
    parser.add_argument("--json", help="append the results to this file as one JSON line")
    args = parser.parse_args()
    if args.child:
        return child(args)

    import sparkeras
    from mnist_bench import echo_server
    spark = sparkeras.spark_session("local[1]", "sparkeras-server-load", local_only=True, spark_ui_enabled="false",
                                    spark_driver_memory="6g")
    spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext
    echo = echo_server(sc)
    print(f"{os.cpu_count()} cores; {CLIENT_PROCESSES} client processes; {args.seconds:g} s per case; "
          "server: Adam on every push, weights back")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        frame_mb = (size * 4 + 64) / 1e6
        for workers in (int(w) for w in args.workers.split(",")):
            coordinator = configure(sc, size, workers)
            try:
                ps = run_clients(coordinator.getPort(), coordinator.getToken(), workers, size, args.seconds)
            finally:
                coordinator.stop()
            bare = run_clients(echo.getPort(), "echo", workers, size, args.seconds)
            rows.append({"parameters": size, "workers": workers, "server_updates_s": ps, "echo_updates_s": bare,
                         "server_mb_s": 2 * ps * frame_mb, "echo_mb_s": 2 * bare * frame_mb})
            print(f"{size:>9} params, {workers:>2} workers: server {ps:8.1f} updates/s ({2 * ps * frame_mb:7.1f} MB/s), "
                  f"echo {bare:8.1f} ({2 * bare * frame_mb:7.1f} MB/s), server/echo {ps / bare:.2f}", flush=True)
    echo.stop()
    spark.stop()
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(rows) + "\n")


if __name__ == "__main__":
    main()
