"""One fit with checkpoints, as its own driver: test_checkpoint.py kills it (SIGKILL) and
starts it again with the same arguments, which resumes from the newest checkpoint.
    resume_job.py <checkpoint_dir> <mode/frequency> <epochs>
Prints a RESULT line of JSON: test accuracy, History epochs and params."""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import sparkeras
from conftest import mlp
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sparkeras import SparkModel, to_simple_rdd

checkpoint_dir, spec, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
mode, frequency = spec.split("/")
spark = sparkeras.spark_session("local[2]", "sparkeras-resume-test", local_only=True, spark_ui_enabled="false")
spark.sparkContext.setLogLevel("OFF")
d = load_digits()
x_train, x_test, y_train, y_test = train_test_split((d.data / 16.0).astype("float32"), d.target, test_size=0.25,
                                                    random_state=0, stratify=d.target)
# The rows four times over, so that an epoch lasts long enough to be interrupted.
rdd = to_simple_rdd(spark.sparkContext, np.tile(x_train, (4, 1)), np.tile(y_train, 4), 2)
# A learning rate that decays to a twentieth over an asynchronous fit's steps (a synchronous fit
# takes half as many, one per round): the last epochs settle, so the order in which asynchronous
# pushes arrive moves the final accuracy less; a resumed run must restore the schedule's step.
steps = epochs * len(x_train) * 4 // 32
model = mlp(seed=3, optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.003, steps, alpha=0.05)))
spark_model = SparkModel(model, mode=mode, frequency=frequency, num_workers=2)
history = spark_model.fit(rdd, epochs=epochs, batch_size=32, seed=11, checkpoint_dir=checkpoint_dir or None)
_, accuracy = spark_model.evaluate(x_test, y_test)
print("RESULT " + json.dumps({"accuracy": accuracy, "epochs": history.epoch, "loss": history.history["loss"],
                              "initial_epoch": history.params["initial_epoch"],
                              "resumed_after_pushes": history.params["resumed_after_pushes"],
                              "applied_samples": history.params["applied_samples"]}))
spark.stop()
