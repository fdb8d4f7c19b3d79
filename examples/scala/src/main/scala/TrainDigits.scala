import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator
import org.apache.spark.sql.SparkSession
import sparkeras.ml.{KerasEstimator, KerasModel}

/**
 * Trains a Keras model (a compiled .keras file saved from Python) on a Parquet file of
 * (features: array<float>, label: double), prints its test accuracy and saves the fitted
 * model. Given two more paths, it also applies a KerasModel saved by Python and writes
 * its predictions.
 *
 *   TrainDigits <model.keras> <train.parquet> <test.parquet> <saved-model-dir> [<python-model-dir> <predictions-out>]
 */
object TrainDigits {
  def main(args: Array[String]): Unit = {
    require(args.length == 4 || args.length == 6, "usage: TrainDigits <model.keras> <train> <test> <out> [<python-model> <predictions>]")
    val spark = SparkSession.builder().appName("sparkeras-scala-example").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    val train = spark.read.parquet(args(1))
    val test = spark.read.parquet(args(2))

    val model = new KerasEstimator()
      .setModelFile(args(0))
      .setEpochs(15)
      .setBatchSize(32)
      .setMode("synchronous")
      .setFrequency("batch")
      .setNumWorkers(2)
      .fit(train)
    val predictions = model.transform(test)
    val accuracy = new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(predictions)
    println(f"test accuracy: $accuracy%.4f")
    model.write.overwrite().save(args(3))
    predictions.drop("features").write.mode("overwrite").parquet(args(3) + "-predictions")

    if (args.length == 6) {
      val fromPython = KerasModel.load(args(4))
      fromPython.transform(test).drop("features").write.mode("overwrite").parquet(args(5))
      println(s"applied the Python-trained model ${fromPython.uid}")
    }
    spark.stop()
    if (accuracy < 0.9) sys.exit(1)
  }
}
