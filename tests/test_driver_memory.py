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
