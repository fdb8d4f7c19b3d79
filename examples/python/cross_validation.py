"""Tune hidden width and epochs with CrossValidator over KerasEstimator."""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

import sparkeras
from sparkeras.ml import KerasEstimator
from digits_data import digits_frames, mlp

spark = sparkeras.spark_session("local[2]", "tuning-example", local_only=True, spark_ui_enabled="false")
spark.sparkContext.setLogLevel("ERROR")
train, test = digits_frames(spark)
estimator = KerasEstimator(buildFn=mlp, numWorkers=2, batchSize=32)
grid = (ParamGridBuilder()
        .addGrid(estimator.modelParams, [{"hidden": 8}, {"hidden": 64}])
        .addGrid(estimator.epochs, [2, 10])
        .build())
evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
started = time.time()
cv = CrossValidator(estimator=estimator, estimatorParamMaps=grid, evaluator=evaluator, numFolds=3, parallelism=2)
cv_model = cv.fit(train)
best = grid[max(range(len(grid)), key=lambda i: cv_model.avgMetrics[i])]
print(f"{time.time() - started:.0f}s; mean accuracy per setting: {[round(float(m), 3) for m in cv_model.avgMetrics]}")
print("best:", {p.name: v.item() if hasattr(v, "item") else v for p, v in best.items()})
accuracy = evaluator.evaluate(cv_model.transform(test))
print(f"test accuracy of the refit best model: {accuracy:.4f}")
sys.exit(0 if accuracy > 0.9 else 1)
