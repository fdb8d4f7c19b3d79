"""Call a trained model from Spark SQL."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from pyspark.ml.functions import vector_to_array

import sparkeras
from sparkeras.ml import KerasEstimator
from digits_data import digits_frames, mlp

spark = sparkeras.spark_session("local[2]", "sql-example", local_only=True, spark_ui_enabled="false")
spark.sparkContext.setLogLevel("ERROR")
train, test = digits_frames(spark)
model = KerasEstimator(model=mlp(), epochs=10).fit(train)

test.select(vector_to_array("features").alias("pixels"), "label").createOrReplaceTempView("digits")
sparkeras.register_udf(spark, "digit_probabilities", model)     # array<float> in, array<float> out
result = spark.sql("""
    SELECT label, array_position(p, array_max(p)) - 1 AS predicted
    FROM (SELECT label, digit_probabilities(pixels) AS p FROM digits)
""")
accuracy = result.selectExpr("avg(CAST(label = predicted AS double))").first()[0]
print(f"SQL accuracy: {accuracy:.4f}")
sys.exit(0 if accuracy > 0.9 else 1)
