package sparkeras.ml

import java.nio.file.Files

import org.apache.spark.TaskContext
import org.apache.spark.ml.Model
import org.apache.spark.ml.linalg.{SQLDataTypes, Vectors}
import org.apache.spark.ml.param.ParamMap
import org.apache.spark.ml.util._
import scala.jdk.CollectionConverters._

import org.apache.spark.sql.{DataFrame, Dataset, Row, SparkSession}
import org.apache.spark.sql.types._
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * A trained Keras model as a Spark ML Model in Scala. `transform` adds Spark ML's columns:
 * classification gives `prediction` (class index) and `probability` (Vector); regression
 * gives `prediction` (double, or array for several outputs). Executors run the model in
 * `python -m sparkeras.executor predict` processes fed with batches of raw tensor bytes.
 */
class KerasModel(override val uid: String, val kerasModel: Array[Byte], val history: Seq[(String, Seq[Double])])
    extends Model[KerasModel] with KerasParams with MLWritable {
  def this(uid: String, kerasModel: Array[Byte]) = this(uid, kerasModel, Nil)
  // Spark Connect finds Transformers through java.util.ServiceLoader, which needs this; such an
  // instance holds no model until one is loaded (`KerasModel.load`) or fitted.
  def this() = this(Identifiable.randomUID("KerasModel"), Array.emptyByteArray)

  /**
   * The fit's History as a DataFrame: `epoch` (from 0, as Keras numbers them) and one column
   * per metric (loss, accuracy, val_loss, ...), the values Keras's `History.history` holds; a
   * value that is not finite, or an epoch a metric lacks, is null (as in the Python stages).
   */
  def historyFrame(spark: SparkSession): DataFrame = {
    val epochs = history.map(_._2.size).foldLeft(0)(math.max)
    val schema = StructType(StructField("epoch", IntegerType, nullable = false) +:
      history.map { case (name, _) => StructField(name, DoubleType) })
    val rows: Seq[Row] = (0 until epochs).map(e =>
      Row.fromSeq(e +: history.map { case (_, values) =>
        values.lift(e).filterNot(v => v.isNaN || v.isInfinite).map(Double.box).orNull }))
    spark.createDataFrame(rows.asJava, schema)
  }

  def historyFrame(): DataFrame = historyFrame(SparkSession.active)


  def setFeaturesCol(value: String): this.type = set(featuresCol, value)
  def setFeaturesCols(value: Array[String]): this.type = set(featuresCols, value)
  def setPredictionCol(value: String): this.type = set(predictionCol, value)
  def setProbabilityCol(value: String): this.type = set(probabilityCol, value)
  def setRawPredictionCol(value: String): this.type = set(rawPredictionCol, value)
  def setTask(value: String): this.type = set(task, value)
  def setPythonExec(value: String): this.type = set(pythonExec, value)

  /** Input shapes, output width and task, read once from the model by a local Python process. */
  private lazy val description: (Seq[Seq[Long]], Int, String) = {
    val dir = Files.createTempDirectory("sparkeras-model")
    try {
      val file = dir.resolve("model.keras")
      Files.write(file, kerasModel)
      val python = PythonWorker.interpreter(org.apache.spark.SparkContext.getOrCreate().getConf, get(pythonExec))
      val json = JsonMethods.parse(PythonWorker.driver(python, Seq("inspect", "--model", file.toString)))
      val outputs = json \ "outputs" match { case JInt(k) => k.toInt; case _ => 1 }
      val inferred = json \ "task" match { case JString(t) => t; case _ => "regression" }
      (KerasEstimator.inputShapes(json, featureColumns), outputs, get(task).getOrElse(inferred))
    } finally { dir.toFile.listFiles().foreach(_.delete()); dir.toFile.delete() }
  }

  override def transform(dataset: Dataset[_]): DataFrame = {
    val df = dataset.toDF()
    val spark = df.sparkSession
    val (shapes, outputs, kind) = description
    val classification = kind == "classification"
    val features = featureColumns
    val temp = features.indices.map(i => s"__sparkeras_f$i")
    val withFeatures = features.zip(temp).foldLeft(df) { case (frame, (name, t)) => frame.withColumn(t, Rows.featureColumn(df, name)) }
    val featureIndices = temp.map(withFeatures.schema.fieldIndex)
    val width = df.schema.length
    val python = PythonWorker.interpreter(spark.sparkContext.getConf, get(pythonExec))
    val modelBytes = spark.sparkContext.broadcast(kerasModel)
    val key = KerasModel.digest(kerasModel)
    val schema = KerasModel.outputSchema(df.schema, this, classification, outputs)
    val rows = withFeatures.rdd.mapPartitions { it =>
      val dir = Files.createTempDirectory("sparkeras-predict")
      val file = dir.resolve("model.keras")
      Files.write(file, modelBytes.value)
      val worker = PythonWorker.borrow(python, "sparkeras.executor", Seq("predict", "--model", file.toString, "--key", key))
      var released = false
      TaskContext.get().addTaskCompletionListener[Unit] { _ =>
        if (!released) worker.destroy() // the partition was not read to its end: the process is mid-command
        file.toFile.delete(); dir.toFile.delete()
      }
      val predicted = it.grouped(Rows.batchRows).flatMap { chunk =>
        worker.send(Rows.batch(chunk.toSeq, featureIndices, -1, shapes, last = false))
        val out = Rows.floats(worker.receive().getWorkerOutput.getPredictions)
        chunk.iterator.zipWithIndex.map { case (row, i) =>
          val p = out.slice(i * outputs, (i + 1) * outputs).map(_.toDouble)
          Row.fromSeq(row.toSeq.take(width) ++ KerasModel.columns(this, p, classification))
        }
      }
      predicted ++ new Iterator[Row] { // closes the worker cleanly once the partition is done
        private var done = false
        def hasNext: Boolean = {
          if (!done) {
            done = true
            worker.send(Rows.batch(Nil, featureIndices, -1, shapes, last = true))
            worker.receive() // the answer to the last batch ends the command
            released = true
            PythonWorker.release(worker)
          }
          false
        }
        def next(): Row = throw new NoSuchElementException
      }
    }
    spark.createDataFrame(rows, schema)
  }

  override def transformSchema(schema: StructType): StructType = KerasModel.outputSchema(schema, this, classification = true)

  // What a Spark Connect server's model cache counts against its limit: the .keras bytes dominate.
  override def estimatedSize: Long = kerasModel.length.toLong + 16L * history.map(_._2.size + 4).sum + 4096L

  override def copy(extra: ParamMap): KerasModel = copyValues(new KerasModel(uid, kerasModel, history), extra).setParent(parent)

  override def write: MLWriter = new MLWriter {
    override protected def saveImpl(path: String): Unit =
      KerasStageIO.save(sparkSession, path, KerasModel.this, Some(kerasModel),
        // JSON has no NaN: a non-finite value (a diverged loss) is written as null
        Some(JObject("history" -> JObject(history.map { case (name, values) =>
          name -> JArray(values.map(v => if (v.isNaN || v.isInfinite) JNull else JDouble(v)).toList) }: _*))))
  }
}

object KerasModel extends MLReadable[KerasModel] {
  /** A History as JSON ({"loss": [0.9, 0.4], ...}, absent in directories saved before it was kept) in its order. */
  private[ml] def parseHistory(json: JValue): Seq[(String, Seq[Double])] = json match {
    case JObject(fields) => fields.map { case (name, values) =>
      name -> (values match {
        case JArray(vs) => vs.map { case JDouble(d) => d; case JInt(i) => i.toDouble; case JDecimal(d) => d.toDouble; case _ => Double.NaN }
        case _ => Nil
      })
    }
    case _ => Nil
  }

  /** Names a model's bytes, so that a pooled Python process loads each model once. */
  private[ml] def digest(bytes: Array[Byte]): String =
    java.security.MessageDigest.getInstance("SHA-256").digest(bytes).map("%02x".format(_)).mkString

  override def load(path: String): KerasModel = super.load(path)

  override def read: MLReader[KerasModel] = new MLReader[KerasModel] {
    override def load(path: String): KerasModel = {
      KerasStageIO.load(sparkSession, path)((uid, blob, metadata) =>
        new KerasModel(uid, blob.getOrElse(throw new IllegalArgumentException(s"$path holds no Keras model")),
          parseHistory(metadata \ "history")))
    }
  }

  /** Spark ML's classifier columns in Spark's order, each left out when its name is set to "". */
  private def classifierColumns(p: KerasParams): Seq[(String, DataType)] = Seq(
    p.getOrDefault(p.rawPredictionCol) -> SQLDataTypes.VectorType,
    p.getOrDefault(p.probabilityCol) -> SQLDataTypes.VectorType,
    p.getOrDefault(p.predictionCol) -> DoubleType).filter(_._1.nonEmpty)

  private[ml] def outputSchema(schema: StructType, p: KerasParams, classification: Boolean, outputs: Int = 2): StructType =
    if (classification) classifierColumns(p).foldLeft(schema) { case (s, (name, kind)) => s.add(StructField(name, kind)) }
    else schema.add(StructField(p.getOrDefault(p.predictionCol), if (outputs == 1) DoubleType else ArrayType(DoubleType)))

  /**
   * The output columns' values for one row of model outputs. A classifier's rawPrediction
   * holds the class probabilities too (Keras models output probabilities, not margins;
   * they rank the same for BinaryClassificationEvaluator).
   */
  private[ml] def columns(params: KerasParams, p: Array[Double], classification: Boolean): Seq[Any] =
    if (classification) {
      val (probability, prediction) =
        if (p.length == 1) (Vectors.dense(1 - p(0), p(0)), if (p(0) >= 0.5) 1.0 else 0.0)
        else (Vectors.dense(p), p.indices.maxBy(p).toDouble)
      val values = Map(params.getOrDefault(params.rawPredictionCol) -> probability,
        params.getOrDefault(params.probabilityCol) -> probability, params.getOrDefault(params.predictionCol) -> prediction)
      classifierColumns(params).map { case (name, _) => values(name) }
    } else if (p.length == 1) Seq(p(0)) else Seq(p.toSeq)
}
