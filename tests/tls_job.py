"""Trains with TLS on the parameter server's socket, from Spark's SSL settings, through the
Python path and the Scala stage; run by test_tls.py in its own Spark application:
    tls_job.py <key store> <password> <other certificate PEM file>
While the Python fit runs, a plain-TCP client and a TLS client that trusts another
certificate try the server's port. Prints one RESULT line of JSON."""
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sparkeras
from conftest import digits_split, mlp
from pyspark.ml.linalg import Vectors
from pyspark.sql import DataFrame
from sparkeras import SparkModel, to_simple_rdd
from sparkeras.driver import bridge
from sparkeras.driver.engine import running_jobs
from sparkeras.wire import sparkeras_pb2 as wire
from sparkeras.wire.connection import Connection


def probe(other_pem, seen):
    """Tries the running job's port as a plain client and as a client trusting `other_pem`."""
    deadline = time.time() + 120
    while time.time() < deadline:
        jobs = running_jobs()
        if jobs:
            host, port = jobs[0]["host"], jobs[0]["port"]
            hello = wire.Envelope()
            hello.hello.token = b"\0" * 32
            payload = hello.SerializeToString()
            with socket.create_connection((host, port), timeout=15) as plain:
                plain.sendall(len(payload).to_bytes(4, "big") + payload)
                try:
                    answer = plain.recv(64)
                except OSError as e:
                    answer = repr(e).encode()
            # A TLS server answers plain bytes with a TLS alert record (type 21) or closes: never a frame.
            seen["plain_answer"] = answer.hex()
            try:
                Connection(host, port, tls=other_pem).close()
                seen["untrusted"] = "connected"
            except ssl.SSLError as e:
                seen["untrusted"] = type(e).__name__
            return
        time.sleep(0.05)


def main():
    key_store, password, other_pem_file = sys.argv[1:4]
    with open(other_pem_file) as f:
        other_pem = f.read()
    spark = sparkeras.spark_session("local[2]", "sparkeras-tls", local_only=True, spark_ui_enabled="false",
                                    spark_ssl_sparkeras_enabled="true", spark_ssl_sparkeras_keyStore=key_store,
                                    spark_ssl_sparkeras_keyStorePassword=password,
                                    spark_ssl_sparkeras_keyStoreType="PKCS12")
    spark.sparkContext.setLogLevel("OFF")
    x_train, x_test, y_train, y_test = digits_split()
    seen = {}
    prober = threading.Thread(target=probe, args=(other_pem, seen), daemon=True)
    prober.start()
    model = SparkModel(mlp(seed=1), mode="asynchronous", frequency="batch", num_workers=2)
    model.fit(to_simple_rdd(spark.sparkContext, x_train, y_train, 2), epochs=10, batch_size=32, verbose=0)
    prober.join(30)
    python_accuracy = float(model.evaluate(x_test, y_test)[1])

    train = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_train, y_train)],
                                  ["features", "label"])
    test = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_test, y_test)],
                                 ["features", "label"])
    model_file = os.path.join(tempfile.mkdtemp(), "template.keras")
    mlp(seed=1).save(model_file)
    fitted = (bridge.new_instance(spark.sparkContext, "sparkeras.ml.KerasEstimator").setModelFile(model_file)
              .setEpochs(10).setNumWorkers(2).setSeed(1)).fit(train._jdf)
    predictions = DataFrame(fitted.transform(test._jdf), spark)
    scala_accuracy = predictions.where("prediction = label").count() / predictions.count()
    print("RESULT " + json.dumps(dict(seen, python_accuracy=python_accuracy, scala_accuracy=scala_accuracy)))
    spark.stop()


if __name__ == "__main__":
    main()
