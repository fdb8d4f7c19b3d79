package sparkeras.ml

import org.apache.spark.ml.param._

/** Params shared by the Scala KerasEstimator and KerasModel, named as on the Python side. */
trait KerasParams extends Params {
  final val featuresCol = new Param[String](this, "featuresCol", "feature column: a Vector or an array of numbers")
  final val labelCol = new Param[String](this, "labelCol", "label column")
  final val predictionCol = new Param[String](this, "predictionCol", "prediction column")
  final val probabilityCol = new Param[String](this, "probabilityCol", "class probabilities column (classification)")
  final val task = new Param[String](this, "task", "classification or regression (inferred from the loss when unset)",
    ParamValidators.inArray(Array("classification", "regression")))
  final val pythonExec = new Param[String](this, "pythonExec",
    "the Python for workers (default: spark.pyspark.python, PYSPARK_PYTHON, python3)")

  setDefault(featuresCol -> "features", labelCol -> "label", predictionCol -> "prediction",
    probabilityCol -> "probability")

  private[ml] def setStored(p: Param[Any], value: Any): Unit = set(p, value)

  def getFeaturesCol: String = $(featuresCol)
  def getLabelCol: String = $(labelCol)
  def getPredictionCol: String = $(predictionCol)
  def getProbabilityCol: String = $(probabilityCol)
}

trait KerasTrainingParams extends KerasParams {
  final val modelFile = new Param[String](this, "modelFile", "a compiled Keras model saved from Python (.keras), any Hadoop path")
  final val epochs = new IntParam(this, "epochs", "training epochs", ParamValidators.gtEq(1))
  final val batchSize = new IntParam(this, "batchSize", "mini-batch size per worker", ParamValidators.gtEq(1))
  final val mode = new Param[String](this, "mode", "synchronous, asynchronous or hogwild",
    ParamValidators.inArray(Array("synchronous", "asynchronous", "hogwild")))
  final val frequency = new Param[String](this, "frequency", "epoch or batch", ParamValidators.inArray(Array("epoch", "batch")))
  final val numWorkers = new IntParam(this, "numWorkers", "training workers (default: the cluster's parallelism)",
    ParamValidators.gtEq(1))
  final val validationSplit = new DoubleParam(this, "validationSplit", "fraction of each worker's rows held out",
    ParamValidators.inRange(0.0, 1.0, lowerInclusive = true, upperInclusive = false))
  final val seed = new LongParam(this, "seed", "shuffling seed")

  setDefault(epochs -> 10, batchSize -> 32, mode -> "asynchronous", frequency -> "epoch", validationSplit -> 0.0)
}
