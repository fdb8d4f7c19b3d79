"""Training through a real standalone cluster: a master and two workers on 127.0.0.1."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.cluster


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    import pyspark
    spark_home = os.path.dirname(pyspark.__file__)
    spark_class = os.path.join(spark_home, "bin", "spark-class")
    logs = tmp_path_factory.mktemp("cluster")
    env = dict(os.environ, SPARK_HOME=spark_home, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               SPARK_WORKER_DIR=str(logs / "work"))
    port, ui = _free_port(), _free_port()
    procs = []

    def start(args, name):
        out = open(logs / f"{name}.log", "w")
        procs.append(subprocess.Popen([spark_class] + args, env=env, stdout=out, stderr=subprocess.STDOUT))

    start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
           "--webui-port", str(ui)], "master")
    master = f"spark://127.0.0.1:{port}"
    _wait_for(lambda: "Starting Spark master" in (logs / "master.log").read_text() and
              "I have been elected leader" in (logs / "master.log").read_text(), 120, "the master")
    for i in range(2):
        start(["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1", "--memory", "3g",
               "--webui-port", str(_free_port()), master], f"worker{i}")
    _wait_for(lambda: (logs / "master.log").read_text().count("Registering worker") >= 2, 120, "two workers")
    yield master, env, logs
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.mark.parametrize("mode,frequency", [("synchronous", "batch"), ("asynchronous", "epoch")])
def test_training_on_a_standalone_cluster(standalone, mode, frequency):
    master, env, logs = standalone
    here = os.path.dirname(os.path.abspath(__file__))
    job = subprocess.run([sys.executable, os.path.join(here, "cluster_job.py"), master, mode, frequency],
                         env=dict(env, PYTHONPATH=here), capture_output=True, text=True, timeout=600, cwd=here)
    assert job.returncode == 0, job.stderr[-4000:]
    line = next(l for l in job.stdout.splitlines() if l.startswith("RESULT"))
    fields = dict(kv.split("=") for kv in line.split()[1:])
    assert int(fields["executors"]) == 2, line
    assert float(fields["accuracy"]) >= 0.93, line


def test_a_killed_executor_applies_no_step_twice(standalone):
    """Kills the executor JVM that runs a worker (SIGKILL) mid-training; the standalone
    master starts a new executor and Spark retries the task, or the barrier stage."""
    from test_faults import check_exactly_once
    master, env, logs = standalone
    here = os.path.dirname(os.path.abspath(__file__))
    job = subprocess.run([sys.executable, os.path.join(here, "fault_job.py"), master, "executor",
                          "synchronous/batch", "asynchronous/batch", "hogwild/batch"],
                         env=dict(env, PYTHONPATH=here), capture_output=True, text=True, timeout=900, cwd=here)
    assert job.returncode == 0, job.stderr[-4000:]
    line = next(l for l in job.stdout.splitlines() if l.startswith("RESULT "))
    check_exactly_once(json.loads(line[len("RESULT "):]))
