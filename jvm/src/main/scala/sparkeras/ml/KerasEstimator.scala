package sparkeras.ml

import java.nio.file.{Files, Path}

import org.apache.spark.ml.Estimator
import org.apache.spark.ml.param.ParamMap
import org.apache.spark.ml.util._
import org.apache.spark.sql.{Dataset, SparkSession}
import org.apache.spark.sql.types.StructType
import org.json4s._
import org.json4s.jackson.JsonMethods
import sparkeras.server.Coordinator

/** Training failed on an executor; when the worker could report it, its exception type, message and partition. */
final class TrainingFailedException(message: String, val exceptionType: String, val workerMessage: String,
    val partition: Int, cause: Throwable) extends RuntimeException(message, cause)

/**
 * Trains a Keras model (a compiled `.keras` file saved from Python) on a DataFrame from
 * a Scala application. Executors start `python -m sparkeras.executor` processes, feed them
 * their partition in batches of raw tensor bytes, and the workers train through the same
 * parameter server and the same training engine as the PySpark API.
 */
class KerasEstimator(override val uid: String) extends Estimator[KerasModel] with KerasTrainingParams with MLWritable {
  def this() = this(Identifiable.randomUID("KerasEstimator"))

  def setModelFile(value: String): this.type = set(modelFile, value)
  def setModelBase64(value: String): this.type = set(modelBase64, value)
  def setEpochs(value: Int): this.type = set(epochs, value)
  def setBatchSize(value: Int): this.type = set(batchSize, value)
  def setLearningRate(value: Double): this.type = set(learningRate, value)
  def setMode(value: String): this.type = set(mode, value)
  def setFrequency(value: String): this.type = set(frequency, value)
  def setNumWorkers(value: Int): this.type = set(numWorkers, value)
  def setValidationSplit(value: Double): this.type = set(validationSplit, value)
  def setVerbose(value: Int): this.type = set(verbose, value)
  def setSeed(value: Long): this.type = set(seed, value)
  def setFeaturesCol(value: String): this.type = set(featuresCol, value)
  def setFeaturesCols(value: Array[String]): this.type = set(featuresCols, value)
  def setLabelCol(value: String): this.type = set(labelCol, value)
  def setPredictionCol(value: String): this.type = set(predictionCol, value)
  def setProbabilityCol(value: String): this.type = set(probabilityCol, value)
  def setRawPredictionCol(value: String): this.type = set(rawPredictionCol, value)
  def setTask(value: String): this.type = set(task, value)
  def setPythonExec(value: String): this.type = set(pythonExec, value)
  def setAlgorithm(value: String): this.type = set(algorithm, value)
  def setCommunicationWindow(value: Int): this.type = set(communicationWindow, value)
  def setRho(value: Double): this.type = set(rho, value)
  def setAlgorithmLearningRate(value: Double): this.type = set(algorithmLearningRate, value)
  def setGamma(value: Double): this.type = set(gamma, value)
  def setMomentum(value: Double): this.type = set(momentum, value)
  def setCheckpointDir(value: String): this.type = set(checkpointDir, value)
  def setCheckpointEvery(value: Int): this.type = set(checkpointEvery, value)
  def setKeepCheckpoints(value: Int): this.type = set(keepCheckpoints, value)
  def setHistoryView(value: String): this.type = set(historyView, value)

  override def fit(dataset: Dataset[_]): KerasModel = {
    require(isDefined(modelFile) || isDefined(modelBase64),
      "KerasEstimator needs modelFile: a compiled Keras model saved from Python (.keras)")
    val spark = dataset.sparkSession
    val sc = spark.sparkContext
    val python = PythonWorker.interpreter(sc.getConf, get(pythonExec))
    val synchronous = $(mode) == "synchronous"
    val workers = StageLauncher.planWorkers(sc, get(numWorkers), synchronous)
    val df = dataset.toDF()
    val features = featureColumns
    val data = df.select(features.map(Rows.featureColumn(df, _)) :+ Rows.labelColumn(df, $(labelCol)): _*)
    val work = Files.createTempDirectory("sparkeras-fit")
    val template = work.resolve("template.keras")
    get(modelBase64) match {
      case Some(encoded) => Files.write(template, java.util.Base64.getDecoder.decode(encoded))
      case None => KerasEstimator.localCopy(spark, $(modelFile), template)
    }
    val jobId = java.util.UUID.randomUUID().toString
    val tag = s"sparkeras-$jobId"
    val coordinator = Coordinator.forSpark(1 << 30, tag)
    try {
      val server = Seq("--host", coordinator.getHost, "--port", coordinator.getPort.toString, "--token", coordinator.getToken) ++
        // "=" form: the PEM starts with dashes, which a separate argument would be parsed as an option
        Option(coordinator.getTlsTrust).toSeq.map(pem => s"--tls-trust=$pem")
      // A resumed fit shuffles with the checkpointed job's seed, so that it skips exactly the rows already trained on.
      val resumedSeed = get(checkpointDir).flatMap(dir => Option(coordinator.latestCheckpoint(dir))).map { latest =>
        val saved = (JsonMethods.parse(latest) \ "seed") match { case JInt(v) => v.toLong; case other => sys.error(s"checkpoint seed $other") }
        require(!isSet(seed) || $(seed) == saved, s"the checkpoint in ${$(checkpointDir)} was trained with seed $saved, " +
          s"this fit asks for seed ${$(seed)}; clear the seed to resume, or use another checkpointDir")
        saved
      }
      val seedArgs = resumedSeed.orElse(if (isSet(seed)) Some($(seed)) else None).toSeq.flatMap(s => Seq("--seed", s.toString))
      val describe = PythonWorker.driver(python, Seq("describe", "--model", template.toString, "--workers", workers.toString,
        "--mode", $(mode), "--epochs", $(epochs).toString, "--batch-size", $(batchSize).toString,
        "--validation-split", $(validationSplit).toString) ++
        // an algorithm sets the frequency itself; one set by hand is checked against it
        (if (isDefined(algorithm) && !isSet(frequency)) Nil else Seq("--frequency", $(frequency))) ++
        algorithmArguments ++
        get(learningRate).toSeq.flatMap(r => Seq("--learning-rate", r.toString)) ++
        seedArgs ++ server)
      val described = JsonMethods.parse(describe)
      get(checkpointDir).foreach(dir => coordinator.useCheckpoints(dir, $(checkpointEvery), $(keepCheckpoints), true))
      val shapes = KerasEstimator.inputShapes(described, features)
      val split = $(validationSplit).toString
      val labelIndex = features.size
      val progress = new Progress(coordinator, $(epochs), $(verbose) > 0)
      try StageLauncher.run(data.rdd, workers, synchronous, tag) { (partition, attempt, rows) =>
        val out = PythonWorker.executor(python, Seq("train", "--job", jobId, "--validation-split", split,
            "--partition", partition.toString, "--attempt", attempt.toString) ++ server) { worker =>
          rows.grouped(Rows.batchRows).foreach(chunk =>
            worker.send(Rows.batch(chunk.toSeq, features.indices, labelIndex, shapes, last = false)))
          worker.send(Rows.batch(Nil, features.indices, labelIndex, shapes, last = true))
          worker.resultJson()
        }
        Iterator(out)
      } catch {
        case e: Exception => throw KerasEstimator.failure(coordinator, e)
      } finally progress.stop()

      val trained = work.resolve("trained.keras")
      val history = PythonWorker.driver(python, Seq("save", "--model", template.toString, "--out", trained.toString) ++ server)
      val model = new KerasModel(uid, Files.readAllBytes(trained), KerasModel.parseHistory(JsonMethods.parse(history)))
      copyValues(model.setParent(this))
      described \ "task" match { case JString(t) if !model.isSet(model.task) => model.set(model.task, t); case _ => () }
      get(historyView).filter(_.nonEmpty).foreach(view => model.historyFrame(spark).createOrReplaceTempView(view))
      model
    } finally {
      coordinator.stop()
      Files.walk(work).sorted(java.util.Comparator.reverseOrder()).forEach(p => p.toFile.delete())
    }
  }

  override def copy(extra: ParamMap): KerasEstimator = defaultCopy(extra)

  override def transformSchema(schema: StructType): StructType = KerasModel.outputSchema(schema, this, classification = true)

  override def write: MLWriter = new MLWriter {
    override protected def saveImpl(path: String): Unit = KerasStageIO.save(sparkSession, path, KerasEstimator.this, None)
  }
}

object KerasEstimator extends MLReadable[KerasEstimator] {
  override def read: MLReader[KerasEstimator] = new MLReader[KerasEstimator] {
    override def load(path: String): KerasEstimator = {
      KerasStageIO.load(sparkSession, path)((uid, _, _) => new KerasEstimator(uid))
    }
  }

  override def load(path: String): KerasEstimator = super.load(path)

  /** The worker's own reported failure when there is one, else Spark's error. */
  private[ml] def failure(coordinator: Coordinator, error: Exception): Exception = coordinator.workerFailure match {
    case Some(f) => new TrainingFailedException(
      s"training failed on an executor (partition ${f.getPartition}, attempt ${f.getAttempt}): " +
        s"${f.getExceptionType}: ${f.getMessage}\n${f.getTraceback}", f.getExceptionType, f.getMessage, f.getPartition, error)
    case None => error
  }

  /** Copies a Hadoop-path file to a local file for Python to read. */
  private[ml] def localCopy(spark: SparkSession, from: String, to: Path): Path = {
    val src = new org.apache.hadoop.fs.Path(from)
    val fs = src.getFileSystem(spark.sparkContext.hadoopConfiguration)
    require(fs.exists(src), s"modelFile $from does not exist")
    fs.copyToLocalFile(false, src, new org.apache.hadoop.fs.Path(to.toUri), true)
    to
  }

  /** Every model input's per-row shape, checked against the number of feature columns. */
  private[ml] def inputShapes(described: JValue, features: Seq[String]): Seq[Seq[Long]] = {
    val shapes = described \ "input_shapes" match {
      case JArray(all) => all.map {
        case JArray(dims) => dims.map { case JInt(d) => d.toLong; case other => sys.error(s"bad dimension $other") }
        case other => sys.error(s"bad input shape $other")
      }
      case other => sys.error(s"unexpected model description $other")
    }
    require(shapes.size == features.size,
      s"the model has ${shapes.size} input(s) but ${features.size} feature column(s) were given: ${features.mkString(", ")}")
    shapes
  }
}

/** Prints the coordinator's progress every few seconds while a training stage runs (verbose > 0). */
private[ml] final class Progress(coordinator: Coordinator, epochs: Int, enabled: Boolean) {
  @volatile private var running = enabled
  private val started = System.nanoTime()
  private val thread = new Thread(() => {
    while (running) {
      Thread.sleep(5000)
      if (running) {
        val Array(samples, done, pushes, loss) = coordinator.progress().split(" ").take(4)
        System.err.println(f"sparkeras: ${(System.nanoTime() - started) / 1e9}%6.1fs  epoch $done/$epochs  " +
          s"pushes $pushes  samples $samples  loss $loss")
      }
    }
  }, "sparkeras-progress")
  thread.setDaemon(true)
  if (enabled) thread.start()

  def stop(): Unit = { running = false; if (enabled) thread.interrupt() }
}
