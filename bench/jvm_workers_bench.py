"""The Scala stages' path (JVM-started, pooled Python workers) against the Python stages, on
the digits: each run is one Spark application (tests/scala_pool_job.py, local[2]) that fits
each path twice (10 epochs, 2 workers, 8 partitions; the first fit of each path starts its
workers) and prints the seconds. Prints every run and the medians of the in-run ratios.
    .venv/bin/python bench/jvm_workers_bench.py [runs]
"""
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = os.path.join(HERE, "..", "tests", "scala_pool_job.py")


def one_run():
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, JOB], capture_output=True, text=True, timeout=900, env=env)
    if out.returncode != 0:
        sys.exit(out.stderr[-3000:])
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main(runs):
    ratios = {"first": [], "second": [], "both": []}
    print("run  python first  scala first  python second  scala second  scala/python (both fits)  processes")
    for i in range(runs):
        r = one_run()
        (p1, p2), (s1, s2) = r["seconds"]["python"], r["seconds"]["scala"]
        ratios["first"].append(s1 / p1)
        ratios["second"].append(s2 / p2)
        ratios["both"].append((s1 + s2) / (p1 + p2))
        print(f"{i + 1:3d}  {p1:11.2f}s  {s1:10.2f}s  {p2:12.2f}s  {s2:11.2f}s  {ratios['both'][-1]:23.2f}  "
              f"{r['executor_processes_started']} workers, {r['driver_helpers_started']} helper; "
              f"accuracy scala {r['scala_accuracy']:.3f} python {r['python_accuracy']:.3f}")
    print("median scala/python: " + ", ".join(f"{k} fit{'s' if k == 'both' else ''} {statistics.median(v):.2f}"
                                              for k, v in ratios.items()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
