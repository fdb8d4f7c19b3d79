"""Train from a Parquet file with KerasEstimator; the executors read it, never the driver."""
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from pyspark.ml.evaluation import MulticlassClassificationEvaluator

import sparkeras
from sparkeras.ml import KerasEstimator
from digits_data import digits_frames, mlp

spark = sparkeras.spark_session("local[2]", "parquet-example", local_only=True, spark_ui_enabled="false")
spark.sparkContext.setLogLevel("ERROR")
train, test = digits_frames(spark)
path = os.path.join(tempfile.mkdtemp(), "digits.parquet")
train.write.parquet(path)

df = spark.read.parquet(path)                        # any Parquet, Delta or CSV source works the same way
model = KerasEstimator(model=mlp(), epochs=15, batchSize=32, mode="synchronous", frequency="batch").fit(df)
accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(model.transform(test))
print(f"test accuracy: {accuracy:.4f}")
print("evaluate on the executors:", model.evaluate(test))
sys.exit(0 if accuracy > 0.9 else 1)
