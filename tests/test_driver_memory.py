"""Training streams each partition on the executors: the driver's memory does not grow
with the number of rows."""
from conftest import run_job


def _run(rows, tmp_path):
    return run_job("driver_memory_job.py", rows, tmp_path / f"rows{rows}.parquet")


def test_driver_peak_rss_does_not_grow_with_rows(tmp_path):
    small = _run(100_000, tmp_path)
    large = _run(1_000_000, tmp_path)
    print(f"driver peak RSS: {small['peak_rss_mb']:.0f} MB for 100k rows ({small['seconds']:.1f}s), "
          f"{large['peak_rss_mb']:.0f} MB for 1M rows ({large['seconds']:.1f}s)")
    assert large["accuracy"] > 0.9, large
    assert large["peak_rss_mb"] <= 1.2 * small["peak_rss_mb"], (small, large)


def test_a_24m_parameter_adam_model_trains_on_a_512_mb_driver():
    """Large pushes and replies stream through one staging array: the server needs 4x the
    model (weights, two Adam slots, one array), not the 13x per-connection buffers took."""
    result = run_job("heap_job.py", 6000)
    print(result)
    assert result["error"] is None and result["max_heap_mb"] < 600, result
    assert result["parameters"] == 4000 * 6000 + 6000 + 6001 and result["applied"] == 64, result
    assert result["changed"] and result["finite"], result


def test_a_model_too_big_for_the_driver_heap_fails_before_training():
    result = run_job("heap_job.py", 12000)
    print(result)
    assert result["error"] and "MB of driver heap" in result["error"] and "spark.driver.memory" in result["error"], result
    assert result["max_heap_mb"] < 600, result
    # Checked before any Spark job of the fit (the first-row read is the only one).
    assert result["jobs"] <= 2, result
