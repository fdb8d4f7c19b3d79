"""The generated parts of the Python package, kept in step with their sources: the shaded
JVM jar (python/sparkeras/jars/), the wire module (python/sparkeras/wire/sparkeras_pb2.py)
and the package's VERSION file, all made by `build/sbt pythonJar`.

    python3 build/generated.py          builds them unless they match their sources
    python3 build/generated.py --check  exit status 0 when they match, 1 when not

A digest of the sources is stamped in target/generated.stamp after each build, so a
second run with nothing changed returns at once. The PEP 517 backend (build/backend.py)
calls this before building a wheel, so `pip install .` from a clone never packages a
missing or stale jar or wire module.
"""
import glob
import hashlib
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAMP = os.path.join(ROOT, "target", "generated.stamp")
PACKAGE = os.path.join(ROOT, "python", "sparkeras")


def _sources():
    fixed = ["build.sbt", "VERSION", "project/build.properties"] + glob.glob("project/*.sbt", root_dir=ROOT)
    trees = ["proto", os.path.join("jvm", "src", "main"), os.path.join("python", "sparkeras")]
    files = [f for f in fixed if os.path.isfile(os.path.join(ROOT, f))]
    for tree in trees:
        for folder, dirs, names in os.walk(os.path.join(ROOT, tree)):
            dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "jars"))
            for name in sorted(names):
                if name.endswith(("_pb2.py", ".pyc")) or (name == "VERSION" and folder == PACKAGE):
                    continue
                files.append(os.path.relpath(os.path.join(folder, name), ROOT))
    return sorted(files)


def digest():
    h = hashlib.sha256()
    for path in _sources():
        h.update(path.encode() + b"\0")
        with open(os.path.join(ROOT, path), "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def outputs_present():
    return bool(glob.glob(os.path.join(PACKAGE, "jars", "*.jar"))) and \
        os.path.isfile(os.path.join(PACKAGE, "wire", "sparkeras_pb2.py")) and \
        os.path.isfile(os.path.join(PACKAGE, "VERSION"))


def is_current():
    if not outputs_present() or not os.path.isfile(STAMP):
        return False
    with open(STAMP) as f:
        return f.read().strip() == digest()


def build(log=sys.stderr):
    """Runs `build/sbt pythonJar` unless the outputs match their sources; True if it built."""
    if is_current():
        print("generated: the jar and the wire module match their sources; nothing to build", file=log, flush=True)
        return False
    if not os.path.isfile(os.path.join(ROOT, "build.sbt")):
        raise RuntimeError("this sparkeras source tree has no build.sbt and no built jar: install from a wheel, or "
                           "from a clone of the repository (which builds the jar with sbt)")
    print("generated: building the JVM jar and the wire module with build/sbt pythonJar (a few minutes the first "
          "time; needs a JDK 17+ and Maven)", file=log, flush=True)
    started = time.time()
    done = subprocess.run(["bash", os.path.join(ROOT, "build", "sbt"), "-warn", "pythonJar"], cwd=ROOT,
                          stdout=log, stderr=log)
    if done.returncode != 0:
        raise RuntimeError("building the sparkeras jar failed (build/sbt pythonJar exited with "
                           f"{done.returncode}, its output is above). It needs a JDK 17 or newer and Maven on the "
                           "PATH; run build/setup.sh for the whole set-up")
    os.makedirs(os.path.dirname(STAMP), exist_ok=True)
    with open(STAMP, "w") as f:
        f.write(digest() + "\n")
    print(f"generated: built in {time.time() - started:.0f} s", file=log, flush=True)
    return True


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if is_current() else 1)
    try:
        build()
    except RuntimeError as e:
        sys.exit(f"generated: {e}")
