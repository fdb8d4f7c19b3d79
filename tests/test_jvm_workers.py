"""The Scala stages' Python workers, started by the JVM: a pool per JVM reuses each process
across tasks, partitions and fits (tests/scala_pool_job.py, local[2]: one executor with two
cores). Its timing of the Scala path against the Python stages is a benchmark
(bench/jvm_workers_bench.py), not checked here."""
from conftest import run_job


def test_pooled_workers_across_tasks_partitions_and_fits():
    result = run_job("scala_pool_job.py", timeout=900)
    # two fits of 8 partitions with 2 workers, and a transform of 8 partitions: two processes in all
    assert result["train_partitions"] == result["test_partitions"] == 8
    assert result["executor_processes_started"] <= 2, result
    assert result["executor_processes_alive"] <= 2, result
    assert result["driver_helpers_started"] == 1, result
    assert result["scala_accuracy"] >= 0.9 and result["python_accuracy"] >= 0.9, result
    history = result["scala_history"]
    assert history["epoch"] == list(range(10)) and history["loss"][-1] < history["loss"][0] / 3, history
    assert set(result["python_history_columns"]) == {"epoch", "loss", "accuracy"}
