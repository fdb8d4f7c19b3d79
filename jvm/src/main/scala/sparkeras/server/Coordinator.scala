package sparkeras.server

import java.security.SecureRandom
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec

import org.json4s.JsonDSL._
import org.json4s.jackson.JsonMethods
import sparkeras.Version
import sparkeras.wire.Wire.WorkerFailure

/**
 * One training job's control point on the driver, and the py4j entry point from
 * Python. It starts the parameter server on the driver's address and reports
 * progress; configuration and tensors travel over the server's own TCP protocol,
 * never through py4j. When a worker reports a failure, the Spark jobs tagged with
 * `jobTag` are cancelled at once, so the driver raises it within seconds.
 */
final class Coordinator(host: String, maxFrameBytes: Int, sparkSecret: String, cancelJobs: () => Unit) {
  def this(host: String, maxFrameBytes: Int) = this(host, maxFrameBytes, null, () => ())

  private val token: Array[Byte] = Coordinator.newToken(Option(sparkSecret).filter(_.nonEmpty))
  private val server = new ParameterServer(host, token, maxFrameBytes, onFailure = _ => cancelJobs())

  def version: String = Version.current
  def getHost: String = server.boundHost
  def getPort: Int = server.port
  def getToken: String = token.map("%02x".format(_)).mkString
  def lastError: String = server.error

  /** The first failure a worker reported, as JSON (exception_type, message, traceback, partition, attempt), or null. */
  def failure(): String = server.job.flatMap(_.failure).map(Coordinator.failureJson).orNull

  /** The first reported failure, if any. */
  def workerFailure: Option[WorkerFailure] = server.job.flatMap(_.failure)

  /** "samples epochs pushes loss rounds mean_staleness max_staleness" for the driver's progress line. */
  def progress(): String = server.job match {
    case None => "0 0 0 nan 0 0 0"
    case Some(j) =>
      val loss = j.history.latest("loss").map(_.toString).getOrElse("nan")
      s"${j.samplesSeen.get} ${j.history.epochsRecorded} ${j.pushes.get} $loss ${j.rounds} ${j.meanStaleness} ${j.maxStaleness}"
  }

  def stop(): Unit = server.stop()
}

object Coordinator {
  private val random = new SecureRandom()

  /** A fresh 32-byte token; when Spark authentication is on it is keyed by Spark's own secret. */
  def newToken(sparkSecret: Option[String]): Array[Byte] = {
    val nonce = new Array[Byte](32)
    random.nextBytes(nonce)
    sparkSecret match {
      case None => nonce
      case Some(secret) =>
        val mac = Mac.getInstance("HmacSHA256")
        mac.init(new SecretKeySpec(secret.getBytes("UTF-8"), "HmacSHA256"))
        mac.doFinal(nonce)
    }
  }

  def failureJson(f: WorkerFailure): String = JsonMethods.compact(JsonMethods.render(
    ("exception_type" -> f.getExceptionType) ~ ("message" -> f.getMessage) ~ ("traceback" -> f.getTraceback) ~
      ("partition" -> f.getPartition) ~ ("attempt" -> f.getAttempt)))

  /** The coordinator for the running SparkContext, bound to spark.driver.host; cancels jobs tagged `jobTag` on a failure. */
  def forSpark(maxFrameBytes: Int, jobTag: String): Coordinator = {
    val env = org.apache.spark.SparkEnv.get
    val conf = env.conf
    val sc = org.apache.spark.SparkContext.getOrCreate()
    val host = conf.get("spark.driver.host", "127.0.0.1")
    val secret = if (conf.getBoolean("spark.authenticate", defaultValue = false)) env.securityManager.getSecretKey() else null
    new Coordinator(host, maxFrameBytes, secret, () => if (jobTag != null && jobTag.nonEmpty) sc.cancelJobsWithTag(jobTag))
  }
}
