package sparkeras.ml

import org.apache.spark.ml.param.Params
import org.apache.spark.sql.SparkSession
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * The persistence format shared with the Python stages: Spark ML's metadata JSON under
 * `path/metadata` (class, uid, paramMap), and the `.keras` archive as one binary cell of
 * a Parquet file under `path/keras_model`, so any Hadoop file system URI works.
 */
object KerasModelIO {
  /** Called by an MLWriter, which has already handled `overwrite()`. */
  def save(spark: SparkSession, path: String, instance: Params, className: String, kerasModel: Option[Array[Byte]]): Unit = {
    val sc = spark.sparkContext
    val params = instance.extractParamMap().toSeq.filter(p => instance.isSet(p.param)).map { p =>
      p.param.name -> (p.value match {
        case s: String => JString(s)
        case i: Int => JInt(i)
        case l: Long => JInt(l)
        case d: Double => JDouble(d)
        case b: Boolean => JBool(b)
        case other => JString(other.toString)
      })
    }
    val metadata = JObject(
      "class" -> JString(className), "timestamp" -> JInt(System.currentTimeMillis()),
      "sparkVersion" -> JString(sc.version), "uid" -> JString(instance.uid),
      "paramMap" -> JObject(params.toList), "defaultParamMap" -> JObject())
    sc.parallelize(Seq(JsonMethods.compact(JsonMethods.render(metadata))), 1).saveAsTextFile(s"$path/metadata")
    kerasModel.foreach { bytes =>
      import spark.implicits._
      Seq(bytes).toDF("blob").coalesce(1).write.parquet(s"$path/keras_model")
    }
  }

  /** (uid, params by name, .keras bytes if stored). */
  def load(spark: SparkSession, path: String): (String, Map[String, JValue], Option[Array[Byte]]) = {
    val text = spark.sparkContext.textFile(s"$path/metadata", 1).first()
    val json = JsonMethods.parse(text)
    val uid = (json \ "uid") match { case JString(s) => s; case _ => throw new IllegalArgumentException(s"no uid in $path/metadata") }
    val params = (json \ "paramMap") match { case JObject(fields) => fields.toMap; case _ => Map.empty[String, JValue] }
    val blob = scala.util.Try(spark.read.parquet(s"$path/keras_model").head().getAs[Array[Byte]]("blob")).toOption
    (uid, params, blob)
  }

  /** Sets every stored param the instance knows (Python-only params such as customObjects are skipped). */
  def setParams(instance: KerasParams, params: Map[String, JValue]): Unit =
    params.foreach { case (name, value) =>
      if (instance.hasParam(name)) {
        val p = instance.getParam(name)
        val v: Any = (p: Any, value) match {
          case (_: org.apache.spark.ml.param.IntParam, JInt(i)) => i.toInt
          case (_: org.apache.spark.ml.param.LongParam, JInt(i)) => i.toLong
          case (_: org.apache.spark.ml.param.DoubleParam, JDouble(d)) => d
          case (_: org.apache.spark.ml.param.DoubleParam, JInt(i)) => i.toDouble
          case (_, JString(s)) => s
          case (_, JBool(b)) => b
          case (_, other) => JsonMethods.compact(JsonMethods.render(other))
        }
        instance.setStored(p.asInstanceOf[org.apache.spark.ml.param.Param[Any]], v)
      }
    }
}
