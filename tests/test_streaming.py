"""Workers stream their partitions: a worker's memory does not grow with its share of the data."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _run(rows, tmp_path, width=128):
    out = subprocess.run([sys.executable, os.path.join(HERE, "worker_memory_job.py"), str(rows), str(width),
                          str(tmp_path / f"rows{rows}.parquet")], capture_output=True, text=True, timeout=900,
                         env=dict(os.environ, PYSPARK_PYTHON=sys.executable))
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(l for l in out.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_worker_peak_rss_does_not_grow_with_its_share(tmp_path):
    small = _run(40_000, tmp_path)
    large = _run(400_000, tmp_path)   # 400k rows x 128 floats: ~100 MB of features per worker
    print(f"worker peak RSS: {small['worker_peak_rss_mb']} MB for 40k rows, "
          f"{large['worker_peak_rss_mb']} MB for 400k rows ({large['partitions']} partitions on 2 workers)")
    assert sum(large["worker_samples"]) == 400_000 and sum(small["worker_samples"]) == 40_000
    assert large["accuracy"] > 0.8, large
    for s, l in zip(small["worker_peak_rss_mb"], large["worker_peak_rss_mb"]):
        assert l < 1.3 * s, (small, large)
