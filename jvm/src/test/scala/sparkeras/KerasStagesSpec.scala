package sparkeras

import java.nio.file.{Files, Path}

import scala.sys.process._

import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator
import org.apache.spark.sql.SparkSession
import org.scalatest.BeforeAndAfterAll
import org.scalatest.funsuite.AnyFunSuite
import sparkeras.ml.{KerasEstimator, KerasModel}

/** The Scala stages on a local SparkSession, with Python workers started by the executors. */
class KerasStagesSpec extends AnyFunSuite with BeforeAndAfterAll {
  private val python = sys.env.getOrElse("PYSPARK_PYTHON", new java.io.File(".venv/bin/python").getAbsolutePath)
  private var spark: SparkSession = _
  private var dir: Path = _

  override def beforeAll(): Unit = {
    dir = Files.createTempDirectory("sparkeras-scala-test")
    // A compiled model and the digits data, written by Python as a user would.
    val script =
      s"""import keras, numpy as np, pyarrow as pa, pyarrow.parquet as pq
         |from sklearn.datasets import load_digits
         |from sklearn.model_selection import train_test_split
         |keras.utils.set_random_seed(0)
         |m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10, activation="softmax")])
         |m.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
         |m.save("$dir/model.keras")
         |d = load_digits(); x = (d.data / 16.0).astype("float32")
         |a, b, ya, yb = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)
         |for name, xs, ys in (("train", a, ya), ("test", b, yb)):
         |    pq.write_table(pa.table({"features": list(xs), "label": ys.astype("float64")}), f"$dir/{name}.parquet")
         |""".stripMargin
    val code = Seq(python, "-c", script).!
    assert(code == 0, s"the Python set-up failed with $python")
    spark = SparkSession.builder().master("local[2]").appName("sparkeras-scala-test")
      .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
      .config("spark.ui.enabled", "false").config("spark.pyspark.python", python).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
  }

  override def afterAll(): Unit = if (spark != null) spark.stop()

  test("params have Spark ML defaults and validate their values") {
    val e = new KerasEstimator()
    assert(e.getFeaturesCol == "features" && e.getLabelCol == "label" && e.getPredictionCol == "prediction")
    assert(e.getOrDefault(e.epochs) == 10 && e.getOrDefault(e.mode) == "asynchronous")
    intercept[IllegalArgumentException](e.setMode("async"))
    intercept[IllegalArgumentException](e.setEpochs(0))
    assert(e.copy(org.apache.spark.ml.param.ParamMap(e.epochs -> 3)).getOrDefault(e.epochs) == 3)
  }

  test("trains from a DataFrame, transforms, and round-trips through save/load") {
    val train = spark.read.parquet(s"$dir/train.parquet")
    val test = spark.read.parquet(s"$dir/test.parquet")
    val model = new KerasEstimator().setModelFile(s"$dir/model.keras").setEpochs(15).setBatchSize(32)
      .setMode("synchronous").setFrequency("batch").setNumWorkers(2).fit(train)
    val out = model.transform(test)
    assert(out.columns.toSeq == Seq("features", "label", "rawPrediction", "probability", "prediction"))
    val accuracy = new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(out)
    assert(accuracy >= 0.93, s"accuracy $accuracy")

    val path = s"$dir/scala-model"
    model.write.overwrite().save(path)
    val loaded = KerasModel.load(path)
    assert(loaded.uid == model.uid && loaded.getFeaturesCol == "features")
    val a = out.select("probability").collect().map(_.get(0).toString)
    val b = loaded.transform(test).select("probability").collect().map(_.get(0).toString)
    assert(a.sameElements(b))

    // the fit's History: one value per epoch for each metric, kept by save/load, as a DataFrame too
    val history = model.history.toMap
    assert(history.keySet == Set("loss", "accuracy") && history("loss").size == 15, history)
    assert(history("loss").last < history("loss").head / 3, history("loss"))
    assert(loaded.history == model.history)
    val frame = loaded.historyFrame(spark)
    assert(frame.columns.toSeq == Seq("epoch") ++ model.history.map(_._1) && frame.count() == 15)
    assert(model.estimatedSize >= model.kerasModel.length)
  }

  test("estimator params persist") {
    val e = new KerasEstimator().setModelFile("/tmp/x.keras").setEpochs(4).setMode("hogwild").setSeed(9L)
    e.write.overwrite().save(s"$dir/estimator")
    val loaded = KerasEstimator.load(s"$dir/estimator")
    assert(loaded.getOrDefault(loaded.epochs) == 4 && loaded.getOrDefault(loaded.mode) == "hogwild")
    assert(loaded.getOrDefault(loaded.seed) == 9L && loaded.getOrDefault(loaded.modelFile) == "/tmp/x.keras")
  }

  test("a Python failure fails the task with the Python traceback") {
    val train = spark.read.parquet(s"$dir/train.parquet")
    Files.write(dir.resolve("broken.keras"), "not a model".getBytes)
    val e = intercept[Exception](new KerasEstimator().setModelFile(s"$dir/broken.keras").setNumWorkers(2).fit(train))
    assert(e.getMessage.contains("Traceback") || Option(e.getCause).exists(_.getMessage.contains("Traceback")), e.getMessage)
  }
}
