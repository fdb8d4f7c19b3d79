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


def test_both_estimators_checkpoint_and_resume_through_params(spark, digits, make_mlp, tmp_path):
    from pyspark.ml.linalg import Vectors
    from sparkeras.driver import bridge
    from sparkeras.ml import KerasEstimator
    x_train, _, y_train, _ = digits
    frame = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_train, y_train)],
                                  ["features", "label"])
    # Python stages: a fit of 2 epochs checkpoints both; the same fit asked for 4 resumes after 2
    directory = str(tmp_path / "python")
    KerasEstimator(model=make_mlp(), epochs=2, numWorkers=2, checkpointDir=directory, seed=3).fit(frame)
    assert checkpoints(directory) == [1, 2]
    resumed = KerasEstimator(model=make_mlp(), epochs=4, numWorkers=2, checkpointDir=directory,
                             keepCheckpoints=2).fit(frame)
    assert resumed.history_params["initial_epoch"] == 2 and resumed.history_params["checkpoint"]
    assert checkpoints(directory) == [3, 4]
    assert len(resumed.history["loss"]) == 4  # the resumed History is continuous: epochs 0-3
    # Scala stages, the same Params
    model_file = str(tmp_path / "template.keras")
    make_mlp().save(model_file)
    scala_dir = str(tmp_path / "scala")

    def scala(epochs):
        return (bridge.new_instance(spark.sparkContext, "sparkeras.ml.KerasEstimator").setModelFile(model_file)
                .setEpochs(epochs).setNumWorkers(2).setCheckpointDir(scala_dir).setCheckpointEvery(2))
    scala(2).fit(frame._jdf)
    assert checkpoints(scala_dir) == [2]
    first = os.path.join(scala_dir, "checkpoint-000002.pb")
    written = os.stat(first).st_mtime_ns
    scala(4).fit(frame._jdf)
    assert checkpoints(scala_dir) == [2, 4]
    assert os.stat(first).st_mtime_ns == written, "the resumed fit started after epoch 2, so it did not write it again"
    with pytest.raises(Exception, match="was trained with seed"):
        scala(6).setSeed(12345).fit(frame._jdf)
