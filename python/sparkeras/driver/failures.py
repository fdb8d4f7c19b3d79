"""TrainingFailed from what a failed worker reported to the parameter server; Spark's
own error text is read only when no worker could report (it died before connecting,
or was killed)."""
import json
import re

from sparkeras.errors import TrainingFailed


def training_failed(coordinator, spark_error):
    """The TrainingFailed to raise for a stage that failed with `spark_error`."""
    report = coordinator.failure()
    if report:
        f = json.loads(report)
        return TrainingFailed(
            f"training failed on an executor (partition {f['partition']}, attempt {f['attempt']}): "
            f"{f['exception_type']}: {f['message']}",
            exception_type=f["exception_type"], worker_message=f["message"], partition=f["partition"],
            attempt=f["attempt"], worker_traceback=f["traceback"])
    return from_spark_text(spark_error)


def from_spark_text(error):
    """Fallback: the last Python exception line of Spark's error text."""
    lines = str(error).splitlines()
    # The Python traceback ends with "SomeError: message", which may run over several lines.
    starts = [i for i, l in enumerate(lines) if re.match(r"^\s*[\w.]+(Error|Exception|Failed): ", l)
              and not l.strip().startswith(("py4j", "org.apache", "java."))]
    if not starts:
        return TrainingFailed(f"training failed on an executor: {str(error)[:2000]}")
    message = []
    for line in lines[starts[-1]:]:
        if line.strip().startswith(("at ", "Caused by", "org.apache", "py4j", "java.")) or not line.strip():
            break
        message.append(line.strip())
    text = " ".join(message)
    exception_type = text.split(":", 1)[0].strip()
    return TrainingFailed("training failed on an executor: " + text, exception_type=exception_type,
                          worker_message=text[len(exception_type) + 1:].strip())
