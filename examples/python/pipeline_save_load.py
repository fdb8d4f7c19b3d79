"""A Pipeline of StandardScaler + KerasEstimator: fit, save, load in a fresh session, same predictions."""
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StandardScaler

import sparkeras
from sparkeras.ml import KerasEstimator
from digits_data import digits_frames, mlp

spark = sparkeras.spark_session("local[2]", "pipeline-example", local_only=True, spark_ui_enabled="false")
spark.sparkContext.setLogLevel("ERROR")
train, test = digits_frames(spark)
pipeline = Pipeline(stages=[
    StandardScaler(inputCol="features", outputCol="scaled"),
    KerasEstimator(model=mlp(), featuresCol="scaled", epochs=10),
])
fitted = pipeline.fit(train)
path = "file://" + os.path.join(tempfile.mkdtemp(), "digits-pipeline")   # any Hadoop file system URI
fitted.write().overwrite().save(path)
before = [r.prediction for r in fitted.transform(test).select("prediction").collect()]
test.write.parquet(path + "-test")
spark.stop()

spark = sparkeras.spark_session("local[2]", "pipeline-example-reload", local_only=True, spark_ui_enabled="false")
loaded = PipelineModel.load(path)
after = [r.prediction for r in loaded.transform(spark.read.parquet(path + "-test")).select("prediction").collect()]
print(f"{len(after)} predictions after reload, identical: {before == after}")
sys.exit(0 if before == after else 1)
