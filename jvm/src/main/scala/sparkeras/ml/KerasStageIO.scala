package sparkeras.ml

import org.apache.hadoop.fs.Path
import org.apache.spark.ml.param.Params
import org.apache.spark.ml.sparkeras.SparkMLBridge
import org.apache.spark.sql.SparkSession
import org.json4s.{JObject, JValue}

/**
 * The persistence layout shared with the Python stages: Spark ML's own metadata under
 * `path/metadata` (DefaultParamsWriter), and the `.keras` archive as one binary cell of
 * a Parquet file under `path/keras_model`, so any Hadoop file system URI works.
 */
object KerasStageIO {
  /** Called by an MLWriter, which has already handled `overwrite()`. */
  def save(spark: SparkSession, path: String, instance: Params, kerasModel: Option[Array[Byte]],
      extra: Option[JObject] = None): Unit = {
    SparkMLBridge.saveMetadata(instance, path, spark, extra)
    kerasModel.foreach { bytes =>
      import spark.implicits._
      Seq(bytes).toDF("blob").coalesce(1).write.parquet(s"$path/keras_model")
    }
  }

  /** The stage made by `make(uid, the .keras bytes if the stage stored a model, the metadata JSON)`, with the stored Params set. */
  def load[T <: Params](spark: SparkSession, path: String)(make: (String, Option[Array[Byte]], JValue) => T): T = {
    val location = new Path(s"$path/keras_model")
    val stored = location.getFileSystem(spark.sparkContext.hadoopConfiguration).exists(location)
    // A stage saved without a model (an estimator built by a Python function) has no keras_model.
    val blob = if (stored) Some(spark.read.parquet(location.toString).head().getAs[Array[Byte]]("blob")) else None
    SparkMLBridge.loadParams(path, spark)((uid, metadata) => make(uid, blob, metadata))
  }
}
