"""Checkpoint and resume: a driver killed mid-fit (SIGKILL) and started again resumes from
its newest checkpoint, with a continuous History and the accuracy of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EPOCHS = 30


def job(checkpoint_dir, spec):
    return subprocess.Popen([sys.executable, os.path.join(HERE, "resume_job.py"), checkpoint_dir, spec, str(EPOCHS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=HERE,
                            env=dict(os.environ, PYSPARK_PYTHON=sys.executable, PYTHONPATH=HERE))


def result(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[len("RESULT "):])


def checkpoints(path):
    return sorted(int(n[len("checkpoint-"):-3]) for n in os.listdir(path) if n.startswith("checkpoint-")) \
        if os.path.isdir(path) else []


@pytest.mark.fault
@pytest.mark.parametrize("spec", ["synchronous/batch", "asynchronous/batch"])
def test_a_killed_driver_resumes_from_its_checkpoint(tmp_path, spec):
    clean = result(job("", spec))
    directory = str(tmp_path / "checkpoints")
    first = job(directory, spec)
    deadline = time.time() + 600
    while time.time() < deadline and first.poll() is None and not any(n >= 8 for n in checkpoints(directory)):
        time.sleep(0.02)
    assert first.poll() is None, "the first run ended before it could be killed: " + first.stderr.read()[-2000:]
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    stopped_at = max(checkpoints(directory))
    assert stopped_at < EPOCHS
    resumed = result(job(directory, spec))
    assert resumed["initial_epoch"] >= stopped_at, resumed
    assert resumed["epochs"] == list(range(EPOCHS)) and len(resumed["loss"]) == EPOCHS, "History is continuous"
    assert max(resumed["resumed_after_pushes"]) > 0
    assert abs(resumed["applied_samples"] / clean["applied_samples"] - 1) <= 0.02, (resumed, clean)
    limit = 0.005 if spec.startswith("synchronous") else 0.01
    print(f"{spec}: stopped at {stopped_at}, resumed at {resumed['initial_epoch']}, accuracy {resumed['accuracy']:.4f} "
          f"(uninterrupted {clean['accuracy']:.4f}), applied samples {resumed['applied_samples']} "
          f"(uninterrupted {clean['applied_samples']})")
    assert abs(resumed["accuracy"] - clean["accuracy"]) <= limit, (resumed["accuracy"], clean["accuracy"])
    assert checkpoints(directory)[-1] == EPOCHS and len(checkpoints(directory)) == 3, checkpoints(directory)
