package sparkeras.server

import java.security.SecureRandom
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec

import org.json4s.JsonDSL._
import org.json4s.jackson.JsonMethods
import sparkeras.Version
import sparkeras.state.{TrainingJob, UpdateRule}
import sparkeras.wire.Wire.WorkerFailure

/**
 * One training job's control point on the driver, and the py4j entry point from
 * Python. It starts the parameter server on the driver's address and reports
 * progress; configuration and tensors travel over the server's own TCP protocol,
 * never through py4j. When a worker reports a failure, the Spark jobs tagged with
 * `jobTag` are cancelled at once, so the driver raises it within seconds.
 */
final class Coordinator(host: String, maxFrameBytes: Int, sparkSecret: String, cancelJobs: () => Unit,
    limits: ParameterServer.Limits, hadoopConf: org.apache.hadoop.conf.Configuration, tls: Option[ServerTls]) {
  def this(host: String, maxFrameBytes: Int, sparkSecret: String, cancelJobs: () => Unit, limits: ParameterServer.Limits,
           hadoopConf: org.apache.hadoop.conf.Configuration) = this(host, maxFrameBytes, sparkSecret, cancelJobs, limits, hadoopConf, None)
  def this(host: String, maxFrameBytes: Int) =
    this(host, maxFrameBytes, null, () => (), ParameterServer.Limits(), new org.apache.hadoop.conf.Configuration())

  private val token: Array[Byte] = Coordinator.newToken(Option(sparkSecret).filter(_.nonEmpty))
  private val server = new ParameterServer(host, token, maxFrameBytes, onFailure = _ => cancelJobs(), limits = limits,
    tls = tls.map(_.context))

  /** The certificates clients must trust, PEM-encoded, when the server speaks TLS; null otherwise. */
  def getTlsTrust: String = tls.map(_.trustedPem).orNull

  /** Connections refused because a cap was reached, and the cap now. */
  def refusedConnections: Long = server.refused
  def connectionCap: Int = server.connectionCap
  def serverThreads: Int = server.threadCount

  def version: String = Version.current
  def getHost: String = server.boundHost
  def getPort: Int = server.port
  def getToken: String = token.map("%02x".format(_)).mkString
  def lastError: String = server.error

  /** The first failure a worker reported, as JSON (exception_type, message, traceback, partition, attempt), or null. */
  def failure(): String = server.job.flatMap(_.failure).map(Coordinator.failureJson).orNull

  /** The first reported failure, if any. */
  def workerFailure: Option[WorkerFailure] = server.job.flatMap(_.failure)

  /** "samples epochs pushes loss rounds mean_staleness max_staleness lost_workers" for the driver's progress line. */
  def progress(): String = server.job match {
    case None => "0 0 0 nan 0 0 0 0"
    case Some(j) =>
      val loss = j.history.latest("loss").map(_.toString).getOrElse("nan")
      s"${j.samplesSeen.get} ${j.history.epochsRecorded} ${j.pushes.get} $loss ${j.rounds} ${j.meanStaleness} ${j.maxStaleness} " +
        s"${j.lostWorkers.get}"
  }

  /**
   * Live progress through `epoch` as JSON: {"samples", "rows", "steps", "metrics"}: samples the
   * workers trained in it, training rows per epoch, steps per epoch, and their running metrics.
   */
  def liveProgress(epoch: Int): String = {
    val (samples, rows, steps, metrics) = server.job.map(_.liveProgress(epoch)).getOrElse((0L, 0L, 0, Map.empty[String, Double]))
    JsonMethods.compact(JsonMethods.render(("samples" -> samples) ~ ("rows" -> rows) ~ ("steps" -> steps) ~
      ("metrics" -> metrics.filter(_._2.isFinite))))
  }

  /** Epochs every partition has reported, in order from the first. */
  def epochsCompleted(): Int = server.job.map(_.epochsCompleted).getOrElse(0)

  /** Workers stop after the epoch they are in (a driver callback set model.stop_training). */
  def requestStop(): Unit = server.job.foreach(_.requestStop())

  /** Driver callbacks run: workers stay at most one epoch ahead of them (from the fit's first epoch). */
  def gateOnCallbacks(fromEpoch: Int): Unit = server.job.foreach(_.gateOnCallbacks(fromEpoch))

  /** The driver's callbacks have finished epochs 0 until `epochs` (exclusive). */
  def callbacksFinished(epochs: Int): Unit = server.job.foreach(_.callbacksFinished(epochs))

  /** The server optimizer's learning rate (NaN when it merges deltas), and a change to it. */
  def learningRate(): Double = server.job.map(_.learningRate.toDouble).getOrElse(Double.NaN)
  def setLearningRate(lr: Double): Unit = server.job.foreach(_.setLearningRate(lr.toFloat))
  /** The server optimizer's step count (Keras's `optimizer.iterations`); 0 when it merges deltas. */
  def iterations(): Long = server.job.map(_.iterations).getOrElse(0L)

  /** The workers connected now, as JSON: [{"partition", "attempt", "pid"}]. */
  def workers(): String = JsonMethods.compact(JsonMethods.render(
    server.connectedWorkers.sortBy(c => (c.partition, c.attempt)).map(c =>
      ("partition" -> c.partition) ~ ("attempt" -> c.attempt) ~ ("pid" -> c.pid)).toList))

  /**
   * Null if the driver heap can hold a job of this size; otherwise the error to raise, with
   * the memory needed and `spark.driver.memory`. Checked before the job is sent, so that a
   * model too big for the driver fails at once instead of as an OutOfMemoryError mid-training.
   */
  def heapShortfall(trainable: Long, total: Long, rule: String, paramsJson: String, workers: Int,
                    synchronous: Boolean): String = heapShortfall(trainable, total, rule, paramsJson, workers, synchronous, "")

  /** As above, for a distributed `algorithm` (ADAG keeps what each worker pulled; an ensemble, each worker's model). */
  def heapShortfall(trainable: Long, total: Long, rule: String, paramsJson: String, workers: Int,
                    synchronous: Boolean, algorithm: String): String =
    heapShortfall(trainable, total, rule, paramsJson, workers, synchronous, algorithm, false)

  /** As above, for a job that writes or resumes checkpoints (a copy of the weights and slots while one is written). */
  def heapShortfall(trainable: Long, total: Long, rule: String, paramsJson: String, workers: Int,
                    synchronous: Boolean, algorithm: String, checkpointing: Boolean): String = {
    implicit val formats: org.json4s.Formats = org.json4s.DefaultFormats
    val params = JsonMethods.parse(Option(paramsJson).getOrElse("{}")).extract[Map[String, Double]]
    val slots = UpdateRule.slotsPerParameter(rule, params)
    val copies = if (algorithm == "adag" || algorithm == "ensemble") 1 else 0
    val needed = TrainingJob.heapNeeded(trainable, total, slots, workers, synchronous, copies, limits.streamAboveBytes,
      limits.stagingBytes, checkpointing)
    val rt = Runtime.getRuntime
    def free(): Long = rt.maxMemory - (rt.totalMemory - rt.freeMemory)
    if (needed <= free()) return null
    System.gc() // once, only when the first reading says no
    val available = free()
    if (needed <= available) null
    else {
      val mb = (b: Long) => b / (1 << 20)
      s"the parameter server needs about ${mb(needed)} MB of driver heap for this job ($trainable trainable " +
        s"parameters, the $rule update rule with $slots slot(s) per parameter, buffers for $workers workers) but the " +
        s"driver JVM has ${mb(available)} MB free of ${mb(rt.maxMemory)} MB. Raise spark.driver.memory " +
        s"(--driver-memory ${math.max(1L, (rt.maxMemory + needed - available + (1L << 30) - 1) >> 30)}g or more), " +
        "or train with fewer workers"
    }
  }

  @volatile private var checkpointFailure: String = null
  @volatile private var lastCheckpoint: String = null

  /** The newest checkpoint in `dir` as JSON (epochs_done, seed, fingerprint), or null if there is none. */
  def latestCheckpoint(dir: String): String =
    new CheckpointStore(dir, 1, hadoopConf).latest().map(cp => JsonMethods.compact(JsonMethods.render(
      ("epochs_done" -> cp.getEpochsDone) ~ ("seed" -> cp.getSeed) ~ ("fingerprint" -> cp.getFingerprint)))).orNull

  /**
   * Checkpoints the configured job into `dir` every `every` epochs, keeping `keep`; with
   * `resume`, first restores the newest checkpoint there (it must come from the same job:
   * the error lists what differs). Returns the epochs the resumed job has done (0 if none).
   */
  def useCheckpoints(dir: String, every: Int, keep: Int, resume: Boolean): Int = {
    require(every >= 1, s"checkpoint_every must be at least 1 epoch, got $every")
    val job = server.job.getOrElse(throw new IllegalStateException("send the job configuration first"))
    val store = new CheckpointStore(dir, keep, hadoopConf)
    val fingerprint = CheckpointStore.fingerprint(job.config)
    val resumed = if (!resume) 0 else store.latest() match {
      case None => 0
      case Some(cp) =>
        val diff = CheckpointStore.differences(cp.getFingerprint, fingerprint)
        require(diff.isEmpty, s"the checkpoint in $dir (after ${cp.getEpochsDone} epochs) was written by a different " +
          s"training job, so it cannot be resumed: ${diff.mkString("; ")}. Use another checkpoint_dir, or resume=False")
        job.restore(cp)
        cp.getEpochsDone
    }
    job.onEpochComplete = epochsDone => if (epochsDone % every == 0) {
      try {
        val cp = job.checkpoint(fingerprint, epochsDone).toBuilder.setSeed(job.config.getSeed).build()
        lastCheckpoint = store.write(cp).toString
      } catch { case e: Exception => checkpointFailure = s"checkpoint after epoch $epochsDone failed: $e" }
    }
    resumed
  }

  /** The last checkpoint written, and the last checkpoint failure (null if none). */
  def checkpointWritten: String = lastCheckpoint
  def checkpointError: String = checkpointFailure

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
    val limits = ParameterServer.Limits(
      maxPending = conf.getInt("spark.sparkeras.server.maxPendingConnections", 64),
      maxConnections = conf.getInt("spark.sparkeras.server.maxConnections", 0),
      idleTimeoutMs = conf.getTimeAsMs("spark.sparkeras.server.idleTimeout", "1h"),
      streamAboveBytes = conf.getSizeAsBytes("spark.sparkeras.server.streamAbove", TrainingJob.StreamAboveBytes.toString)
        .min(Int.MaxValue.toLong).toInt,
      stagingBytes = conf.getSizeAsBytes("spark.sparkeras.server.stagingMemory", TrainingJob.DefaultStagingBytes.toString))
    new Coordinator(host, maxFrameBytes, secret, () => if (jobTag != null && jobTag.nonEmpty) sc.cancelJobsWithTag(jobTag),
      limits, sc.hadoopConfiguration, ServerTls.fromConf(k => conf.getOption(k)))
  }
}
