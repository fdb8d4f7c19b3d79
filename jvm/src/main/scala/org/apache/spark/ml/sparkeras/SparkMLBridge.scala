package org.apache.spark.ml.sparkeras

import org.apache.spark.ml.param.Params
import org.apache.spark.ml.param.shared.{HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol, HasRawPredictionCol,
  HasSeed}
import org.apache.spark.ml.util.{DefaultParamsReader, DefaultParamsWriter}
import org.apache.spark.sql.SparkSession
import org.json4s.{JObject, JValue}

/**
 * Spark's own shared column Params and metadata persistence are private to
 * `org.apache.spark.ml`; this bridge is the one place sparkeras reaches them, so that
 * its Scala stages read and write exactly what Spark ML (and the Python stages) do.
 */
trait SharedKerasParams extends HasFeaturesCol with HasLabelCol with HasPredictionCol with HasProbabilityCol
  with HasRawPredictionCol

/** Spark's shared seed Param, for the estimators. */
trait SharedSeedParam extends HasSeed

object SparkMLBridge {
  /** Spark ML's metadata JSON under `path/metadata`, as DefaultParamsWriter writes it. */
  def saveMetadata(instance: Params, path: String, spark: SparkSession, extra: Option[JObject] = None): Unit =
    DefaultParamsWriter.saveMetadata(instance, path, spark, extra)

  /**
   * Reads `path/metadata`, makes the stage with the stored uid and sets every stored
   * Param it has; Params of the other language (the Python stages' modelParams) are skipped.
   * `make` also gets the whole metadata JSON (extra fields such as a model's History).
   */
  def loadParams[T <: Params](path: String, spark: SparkSession)(make: (String, JValue) => T): T = {
    val metadata = DefaultParamsReader.loadMetadata(path, spark)
    val instance = make(metadata.uid, metadata.metadata)
    val stored = Seq(metadata.params, metadata.defaultParams).flatMap {
      case JObject(fields) => fields.map(_._1)
      case _ => Nil
    }
    val foreign = stored.filterNot(instance.hasParam).distinct.toList
    metadata.getAndSetParams(instance, Some(foreign))
    instance
  }

  /** The stored class name, for a clear error when a directory holds another stage. */
  def storedClass(path: String, spark: SparkSession): String = DefaultParamsReader.loadMetadata(path, spark).className
}
