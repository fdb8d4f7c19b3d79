"""The py4j bridge to the JVM side: finds the bundled jar, makes sure the driver can
load it, and creates coordinators. py4j carries control only; tensors go over TCP."""
import glob
import os
import threading

from sparkeras._version import __version__
from sparkeras.errors import JarVersionMismatch

_COORDINATOR_CLASS = "sparkeras.server.Coordinator"
_DEFAULT_MAX_FRAME_BYTES = 1 << 30
_loaders = {}
_lock = threading.Lock()


def bundled_jar():
    """Path of the jar shipped inside this package."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    jars = sorted(glob.glob(os.path.join(package, "jars", "*.jar")))
    if not jars:
        raise FileNotFoundError(
            "the sparkeras jar is missing from the Python package; build it with `build/sbt pythonJar` "
            "or install a sparkeras wheel")
    return jars[-1]


def with_jar(conf_jars):
    """A `spark.jars` value that also lists the bundled jar."""
    jar = bundled_jar()
    existing = [j for j in (conf_jars or "").split(",") if j]
    return ",".join(existing + [jar]) if jar not in existing else ",".join(existing)


def load_class(sc, name):
    """A class of the jar: from the driver's classpath when the jar is on it (spark.jars),
    else from a class loader of our own over the bundled jar."""
    jvm = sc._jvm
    gateway = sc._gateway
    try:
        return jvm.java.lang.Class.forName(name, True, jvm.java.lang.Thread.currentThread().getContextClassLoader())
    except Exception:
        pass
    with _lock:
        key = id(gateway)
        if key not in _loaders:
            url = jvm.java.io.File(bundled_jar()).toURI().toURL()
            urls = gateway.new_array(jvm.java.net.URL, 1)
            urls[0] = url
            parent = jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader()
            _loaders[key] = jvm.java.net.URLClassLoader(urls, parent)
        return jvm.java.lang.Class.forName(name, True, _loaders[key])


def object_array(sc, args):
    array = sc._gateway.new_array(sc._jvm.java.lang.Object, len(args))
    for i, a in enumerate(args):
        array[i] = a
    return array


def invoke_static(sc, cls, name, *args):
    method = next(m for m in cls.getMethods() if m.getName() == name and len(m.getParameterTypes()) == len(args))
    return method.invoke(None, object_array(sc, args))


def new_instance(sc, class_name, *args):
    """`new class_name(args...)` for a class of the jar, whichever loader holds it."""
    cls = load_class(sc, class_name)
    constructor = next(c for c in cls.getConstructors() if len(c.getParameterTypes()) == len(args))
    return constructor.newInstance(object_array(sc, args))


def new_coordinator(sc, max_frame_bytes=_DEFAULT_MAX_FRAME_BYTES, job_tag=""):
    """Starts a parameter server in the driver JVM for one job; checks the jar's version.
    When a worker reports a failure, the coordinator cancels the Spark jobs tagged `job_tag`."""
    cls = load_class(sc, _COORDINATOR_CLASS)
    coordinator = invoke_static(sc, cls, "forSpark", int(max_frame_bytes), str(job_tag))
    jar_version = coordinator.version()
    if jar_version != __version__:
        coordinator.stop()
        raise JarVersionMismatch(
            f"the sparkeras jar on the driver is version {jar_version} but the Python package is {__version__}; "
            "remove the other jar from spark.jars / --packages or install matching versions")
    return coordinator


def pause_console_progress(sc):
    """Stops Spark's console progress bar; `.close()` on the result gives the context a new one."""
    cls = load_class(sc, "sparkeras.server.ConsoleProgressPause")
    return invoke_static(sc, cls, "pause", sc._jsc.sc())
