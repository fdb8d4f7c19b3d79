"""A Spark Connect server on this machine with the sparkeras jar, for trying Connect clients
(pip's pyspark has spark-submit but not Spark's start-connect-server.sh):

    python -m sparkeras.driver.connect_server start [--port 15002] [--master local[2]] [--conf k=v ...]
    python -m sparkeras.driver.connect_server stop [--port 15002]

`start` returns once the server listens on 127.0.0.1, printing its address, process id and
log file; the server's executors run this Python (so the Scala stages' workers and SQL
functions find sparkeras). `stop` ends the server started on that port. On a cluster, start
Spark's own server with `--jars sparkeras-spark4_2.13-<version>.jar` instead.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from sparkeras.driver.bridge import bundled_jar

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _files(port):
    base = os.path.join(tempfile.gettempdir(), f"sparkeras-connect-{port}")
    return base + ".pid", base + ".log"


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def command(port, master="local[2]", conf=()):
    """The spark-submit command line of a local Connect server with the sparkeras jar."""
    import pyspark
    submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    settings = {"spark.connect.grpc.binding.address": "127.0.0.1", "spark.connect.grpc.binding.port": str(port),
                "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                "spark.pyspark.python": sys.executable}
    settings.update(dict(item.split("=", 1) for item in conf))
    return ([submit, "--class", SERVER_CLASS, "--master", master, "--jars", bundled_jar()]
            + [arg for key, value in settings.items() for arg in ("--conf", f"{key}={value}")] + ["spark-internal"])


def start(port=15002, master="local[2]", conf=(), timeout=120):
    """Starts the server in its own process group; returns (pid, log file) once it listens."""
    pid_file, log_file = _files(port)
    if _listening(port):
        raise RuntimeError(f"something already listens on 127.0.0.1:{port}; stop it or choose --port")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    with open(log_file, "wb") as log:
        server = subprocess.Popen(command(port, master, conf), stdout=log, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)
    with open(pid_file, "w") as f:
        f.write(str(server.pid))
    deadline = time.monotonic() + timeout
    while not _listening(port):
        if server.poll() is not None or time.monotonic() > deadline:
            stop(port)
            with open(log_file, errors="replace") as f:
                tail = f.read()[-3000:]
            raise RuntimeError(f"the Spark Connect server did not start (log {log_file}):\n{tail}")
        time.sleep(0.5)
    return server.pid, log_file


def stop(port=15002, timeout=30):
    """Ends the server started on `port` (its whole process group); False if there was none."""
    pid_file, _ = _files(port)
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.killpg(pid, 0)
            time.sleep(0.5)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # ended
    os.remove(pid_file)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sparkeras.driver.connect_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--port", type=int, default=15002)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--conf", action="append", default=[], help="a Spark setting, key=value (repeatable)")
    args = parser.parse_args(argv)
    if args.action == "start":
        pid, log = start(args.port, args.master, args.conf)
        print(f"Spark Connect server at sc://127.0.0.1:{args.port} (pid {pid}, log {log})")
    else:
        print("stopped" if stop(args.port) else f"no server started on port {args.port}")


if __name__ == "__main__":
    main()
