"""Every example script in examples/python runs and reaches its accuracy (each exits non-zero otherwise)."""
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "python")
SCRIPTS = ["dataframe_parquet.py", "pipeline_save_load.py", "cross_validation.py", "sql_inference.py",
           "elephas_migration.py", "hyperparam_search.py", "image_transfer_learning.py", "spark_connect.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script):
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    out = subprocess.run([sys.executable, script], cwd=EXAMPLES, capture_output=True, text=True, timeout=900, env=env)
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-4000:])
    assert "accuracy" in out.stdout or "identical: True" in out.stdout
