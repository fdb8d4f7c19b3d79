"""The layout's rules, checked on the source (no Spark needed): see ARCHITECTURE.md."""
import ast
import os
import subprocess
import sys

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "sparkeras")


def _modules():
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py") and not name.endswith("_pb2.py"):
                path = os.path.join(root, name)
                with open(path) as f:
                    yield os.path.relpath(path, PACKAGE), ast.parse(f.read(), path)


def _own(module):
    return module == "sparkeras" or (module or "").startswith("sparkeras.")


def test_no_module_imports_a_private_name_of_another():
    found = []
    for path, tree in _modules():
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and _own(node.module):
                for a in node.names:
                    if a.name.startswith("_") and a.name != "__version__":
                        found.append(f"{path}:{node.lineno} from {node.module} import {a.name}")
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if _own(a.name):
                        aliases[a.asname or a.name.split(".")[0]] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{path}:{node.lineno} {node.value.id}.{node.attr}")
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_no_import_of_the_package_inside_a_function():
    found = []
    for path, tree in _modules():
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and _own(node.module):
                        found.append(f"{path}:{node.lineno} from {node.module} import ...")
                    elif isinstance(node, ast.Import) and any(_own(a.name) for a in node.names):
                        found.append(f"{path}:{node.lineno} import {', '.join(a.name for a in node.names)}")
    assert not found, "imports of the package inside functions:\n" + "\n".join(found)


def test_importing_sparkeras_loads_no_driver_code():
    """What an executor gets when a task unpickles an executor function."""
    code = ("import sys, sparkeras, sparkeras.executor.training, sparkeras.executor.inference, sparkeras.executor.stdio;"
            "print(sorted(m for m in sys.modules if m.startswith(('sparkeras', 'pyspark', 'py4j', 'tensorflow'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = eval(out)
    assert not [m for m in loaded if m.startswith(("sparkeras.driver", "sparkeras.ml", "sparkeras.spark_model",
                                                   "sparkeras.model", "pyspark", "py4j", "tensorflow"))], loaded
    assert "sparkeras.executor.training" in loaded


def test_public_names_still_import_from_their_elephas_and_documented_paths():
    import sparkeras
    from sparkeras.ml import KerasEstimator, KerasModel, predict_udf, register_udf  # noqa: F401
    from sparkeras.ml.adapter import df_to_simple_rdd, from_data_frame, to_data_frame  # noqa: F401
    from sparkeras.ml_model import ElephasEstimator, ElephasTransformer  # noqa: F401
    from sparkeras.spark_model import (AsynchronousSparkModel, History, SparkMLlibModel, SparkModel,  # noqa: F401
                                       TrainingFailed, load_spark_model)
    from sparkeras.utils.rdd_utils import encode_label, lp_to_simple_rdd, to_labeled_point, to_simple_rdd  # noqa: F401
    for name in sparkeras.__all__:
        assert getattr(sparkeras, name) is not None
    assert issubclass(sparkeras.ModelSpecError, sparkeras.SparkerasError)
    assert issubclass(sparkeras.TrainingFailed, sparkeras.SparkerasError)


def test_import_contracts_hold():
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    if not os.path.exists(lint):
        pytest.fail("lint-imports is not installed: pip install import-linter (it is in the [test] extra)")
    root = os.path.join(PACKAGE, "..", "..")
    out = subprocess.run([lint, "--config", os.path.join(root, "pyproject.toml")], capture_output=True, text=True,
                         cwd=root)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout
