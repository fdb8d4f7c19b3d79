package sparkeras.ml

import java.nio.file.{Files, Path}

import org.apache.spark.BarrierTaskContext
import org.apache.spark.TaskContext
import org.apache.spark.ml.Estimator
import org.apache.spark.ml.param.ParamMap
import org.apache.spark.ml.util._
import org.apache.spark.sql.{Dataset, Row, SparkSession}
import org.apache.spark.sql.types.StructType
import org.json4s._
import org.json4s.jackson.JsonMethods
import sparkeras.Coordinator

/**
 * Trains a Keras model (a compiled `.keras` file saved from Python) on a DataFrame from
 * a Scala application. Executors start `python -m sparkeras.worker` processes, feed them
 * their partition in batches of raw tensor bytes, and the workers train through the same
 * parameter server as the PySpark API.
 */
class KerasEstimator(override val uid: String) extends Estimator[KerasModel] with KerasTrainingParams with MLWritable {
  def this() = this(Identifiable.randomUID("KerasEstimator"))

  def setModelFile(value: String): this.type = set(modelFile, value)
  def setEpochs(value: Int): this.type = set(epochs, value)
  def setBatchSize(value: Int): this.type = set(batchSize, value)
  def setMode(value: String): this.type = set(mode, value)
  def setFrequency(value: String): this.type = set(frequency, value)
  def setNumWorkers(value: Int): this.type = set(numWorkers, value)
  def setValidationSplit(value: Double): this.type = set(validationSplit, value)
  def setSeed(value: Long): this.type = set(seed, value)
  def setFeaturesCol(value: String): this.type = set(featuresCol, value)
  def setLabelCol(value: String): this.type = set(labelCol, value)
  def setPredictionCol(value: String): this.type = set(predictionCol, value)
  def setProbabilityCol(value: String): this.type = set(probabilityCol, value)
  def setPythonExec(value: String): this.type = set(pythonExec, value)

  override def fit(dataset: Dataset[_]): KerasModel = {
    require(isDefined(modelFile), "KerasEstimator needs modelFile: a compiled Keras model saved from Python (.keras)")
    val spark = dataset.sparkSession
    val sc = spark.sparkContext
    val python = PythonWorker.interpreter(sc.getConf, get(pythonExec))
    val workers = get(numWorkers).getOrElse(sc.defaultParallelism)
    val synchronous = $(mode) == "synchronous"
    if (synchronous) {
      val slots = sc.defaultParallelism / sc.getConf.getInt("spark.task.cpus", 1)
      require(workers <= slots, s"synchronous training runs one barrier task per worker, all at once: " +
        s"numWorkers=$workers but the cluster has $slots task slots")
    }
    val df = dataset.toDF()
    val data0 = df.select(Rows.featureColumn(df, $(featuresCol)), Rows.labelColumn(df, $(labelCol)))
    val data = if (data0.rdd.getNumPartitions != workers) data0.repartition(workers) else data0
    val work = Files.createTempDirectory("sparkeras-fit")
    val template = KerasEstimator.localCopy(spark, $(modelFile), work.resolve("template.keras"))
    val coordinator = Coordinator.forSpark(1 << 30)
    try {
      val (host, port, token) = (coordinator.getHost, coordinator.getPort, coordinator.getToken)
      val server = Seq("--host", host, "--port", port.toString, "--token", token)
      val describe = new PythonWorker(python, Seq("describe", "--model", template.toString, "--workers", workers.toString,
        "--mode", $(mode), "--frequency", $(frequency), "--epochs", $(epochs).toString, "--batch-size", $(batchSize).toString,
        "--validation-split", $(validationSplit).toString) ++ get(seed).toSeq.flatMap(s => Seq("--seed", s.toString)) ++ server)
      val described = JsonMethods.parse(describe.output().linesIterator.toSeq.last)
      val shape = KerasEstimator.firstInputShape(described)
      val jobId = java.util.UUID.randomUUID().toString
      val split = $(validationSplit).toString
      def train(partition: Int, attempt: Int, rows: Iterator[Row]): Iterator[String] = {
        val worker = new PythonWorker(python, Seq("train", "--job", jobId, "--validation-split", split,
          "--partition", partition.toString, "--attempt", attempt.toString) ++ server)
        try {
          rows.grouped(Rows.batchRows).foreach(chunk => worker.send(Rows.batch(chunk.toSeq, 0, 1, shape, last = false)))
          worker.send(Rows.batch(Nil, 0, 1, shape, last = true))
          val out = worker.receive().getWorkerOutput.getResultJson
          worker.finish()
          Iterator(out)
        } finally worker.close()
      }
      val rdd = data.rdd
      if (synchronous) rdd.barrier().mapPartitions { rows =>
        val ctx = BarrierTaskContext.get(); train(ctx.partitionId(), ctx.attemptNumber(), rows)
      }.collect()
      else rdd.mapPartitionsWithIndex((i, rows) => train(i, TaskContext.get().attemptNumber(), rows)).collect()

      val trained = work.resolve("trained.keras")
      new PythonWorker(python, Seq("save", "--model", template.toString, "--out", trained.toString) ++ server).output()
      val model = new KerasModel(uid, Files.readAllBytes(trained))
      copyValues(model.setParent(this))
      described \ "task" match { case JString(t) if !model.isSet(model.task) => model.set(model.task, t); case _ => () }
      model
    } finally {
      coordinator.stop()
      Files.walk(work).sorted(java.util.Comparator.reverseOrder()).forEach(p => p.toFile.delete())
    }
  }

  override def copy(extra: ParamMap): KerasEstimator = defaultCopy(extra)

  override def transformSchema(schema: StructType): StructType = KerasModel.outputSchema(schema, this, classification = true)

  override def write: MLWriter = new MLWriter {
    override protected def saveImpl(path: String): Unit =
      KerasModelIO.save(sparkSession, path, KerasEstimator.this, "sparkeras.ml.KerasEstimator", None)
  }
}

object KerasEstimator extends MLReadable[KerasEstimator] {
  override def read: MLReader[KerasEstimator] = new MLReader[KerasEstimator] {
    override def load(path: String): KerasEstimator = {
      val (uid, params, _) = KerasModelIO.load(sparkSession, path)
      val e = new KerasEstimator(uid)
      KerasModelIO.setParams(e, params)
      e
    }
  }

  /** Copies a Hadoop-path file to a local file for Python to read. */
  private[ml] def localCopy(spark: SparkSession, from: String, to: Path): Path = {
    val src = new org.apache.hadoop.fs.Path(from)
    val fs = src.getFileSystem(spark.sparkContext.hadoopConfiguration)
    require(fs.exists(src), s"modelFile $from does not exist")
    fs.copyToLocalFile(false, src, new org.apache.hadoop.fs.Path(to.toUri), true)
    to
  }

  private[ml] def firstInputShape(described: JValue): Seq[Long] = described \ "input_shapes" match {
    case JArray(List(JArray(dims))) => dims.map { case JInt(d) => d.toLong; case other => sys.error(s"bad dimension $other") }
    case JArray(shapes) => throw new IllegalArgumentException(
      s"the Scala API trains single-input models; this model has ${shapes.size} inputs")
    case other => sys.error(s"unexpected model description $other")
  }
}
