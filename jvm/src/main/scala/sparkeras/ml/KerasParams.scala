package sparkeras.ml

import org.apache.spark.ml.param._
import org.apache.spark.ml.sparkeras.{SharedKerasParams, SharedSeedParam}

/**
 * Params of the Scala Keras stages: Spark ML's shared column Params and sparkeras's own,
 * with the same names, types and defaults as the Python stages (tests compare them).
 * Scala only: `pythonExec`. Python only: model, buildFn, modelParams, customObjects.
 */
trait KerasParams extends SharedKerasParams {
  final val featuresCols = new StringArrayParam(this, "featuresCols",
    "feature columns feeding a multi-input model, in the order of its inputs (overrides featuresCol)")
  final val task = new Param[String](this, "task", "'classification' or 'regression'; inferred from the loss when unset",
    ParamValidators.inArray(Array("classification", "regression")))
  final val pythonExec = new Param[String](this, "pythonExec",
    "the Python for workers (default: spark.pyspark.python, PYSPARK_PYTHON, python3)")

  setDefault(featuresCol -> "features", labelCol -> "label", predictionCol -> "prediction",
    probabilityCol -> "probability", rawPredictionCol -> "rawPrediction")

  /** The feature columns, one per model input. */
  def featureColumns: Seq[String] = if (isSet(featuresCols)) $(featuresCols).toSeq else Seq($(featuresCol))
}

trait KerasTrainingParams extends KerasParams with SharedSeedParam {
  final val modelFile = new Param[String](this, "modelFile", "a compiled Keras model saved as .keras, any Hadoop path")
  // How a Spark Connect client sends the model it holds: Connect Params are strings, numbers and arrays.
  final val modelBase64 = new Param[String](this, "modelBase64",
    "a compiled Keras model: the bytes of its .keras file, base64-encoded (instead of modelFile)")
  // A Connect client cannot call the fitted model's methods; it reads the History from this temporary view.
  final val historyView = new Param[String](this, "historyView",
    "register the fit's History (one row per epoch) as a temporary view of this name in the fitting session")
  final val epochs = new IntParam(this, "epochs", "training epochs", ParamValidators.gtEq(1))
  final val batchSize = new IntParam(this, "batchSize", "mini-batch size per worker", ParamValidators.gtEq(1))
  final val learningRate = new DoubleParam(this, "learningRate", "overrides the compiled optimizer's learning rate",
    ParamValidators.gt(0.0))
  final val mode = new Param[String](this, "mode", "synchronous, asynchronous or hogwild",
    ParamValidators.inArray(Array("synchronous", "asynchronous", "hogwild")))
  final val frequency = new Param[String](this, "frequency", "epoch or batch", ParamValidators.inArray(Array("epoch", "batch")))
  final val numWorkers = new IntParam(this, "numWorkers", "training workers (default: the cluster's parallelism)",
    ParamValidators.gtEq(1))
  final val validationSplit = new DoubleParam(this, "validationSplit", "fraction of each worker's rows held out",
    ParamValidators.inRange(0.0, 1.0, lowerInclusive = true, upperInclusive = false))
  final val verbose = new IntParam(this, "verbose", "print progress while training")
  // dist-keras's algorithms; unset Params take the algorithm's defaults (checked by the Python driver's describe)
  final val algorithm = new Param[String](this, "algorithm",
    "a distributed algorithm: downpour, agn, adag, dynsgd, aeasgd, eamsgd, averaging or ensemble",
    ParamValidators.inArray(Array("downpour", "agn", "adag", "dynsgd", "aeasgd", "eamsgd", "averaging", "ensemble")))
  final val communicationWindow = new IntParam(this, "communicationWindow",
    "batches (averaging: epochs) between exchanges with the parameter server", ParamValidators.gtEq(1))
  final val rho = new DoubleParam(this, "rho", "aeasgd, eamsgd: the elastic rate is rho * algorithmLearningRate",
    ParamValidators.gt(0.0))
  final val algorithmLearningRate = new DoubleParam(this, "algorithmLearningRate",
    "aeasgd, eamsgd: the algorithm's learning rate (eamsgd's workers step at it)", ParamValidators.gt(0.0))
  final val gamma = new DoubleParam(this, "gamma", "adag: how far a weight may move before a stale change to it is damped",
    ParamValidators.gt(0.0))
  final val momentum = new DoubleParam(this, "momentum", "eamsgd: the workers' Nesterov momentum",
    ParamValidators.inRange(0.0, 1.0, lowerInclusive = true, upperInclusive = false))

  // checkpoint and resume (Coordinator.useCheckpoints): a fit given a directory holding a checkpoint of the same job resumes
  final val checkpointDir = new Param[String](this, "checkpointDir",
    "write the job's state here (any Hadoop URI) every checkpointEvery epochs; a fit finding a checkpoint of the same job resumes from it")
  final val checkpointEvery = new IntParam(this, "checkpointEvery", "epochs between checkpoints", ParamValidators.gtEq(1))
  final val keepCheckpoints = new IntParam(this, "keepCheckpoints", "how many of the newest checkpoints to keep",
    ParamValidators.gtEq(1))
  setDefault(checkpointEvery -> 1, keepCheckpoints -> 3)

  /** The describe command's arguments for the chosen algorithm (none without one). */
  def algorithmArguments: Seq[String] = get(algorithm).toSeq.flatMap { name =>
    val params = Seq("communication_window" -> get(communicationWindow).map(_.toDouble), "rho" -> get(rho),
      "learning_rate" -> get(algorithmLearningRate), "gamma" -> get(gamma), "momentum" -> get(momentum))
      .collect { case (k, Some(v)) => s"\"$k\": $v" }
    Seq("--algorithm", name, "--algorithm-params", params.mkString("{", ", ", "}"))
  }

  setDefault(epochs -> 10, batchSize -> 32, mode -> "asynchronous", frequency -> "epoch", validationSplit -> 0.0,
    verbose -> 0)
}
