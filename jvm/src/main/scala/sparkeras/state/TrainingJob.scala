package sparkeras.state

import java.util.concurrent.atomic.{AtomicInteger, AtomicLong}

import scala.jdk.CollectionConverters._

import sparkeras.codec.Tensors
import sparkeras.wire.Wire._

/**
 * One training job on the server side: its configuration, master weights, update
 * rule, synchronous rounds, progress counters and history. Connections hand it
 * messages; it never trusts them, and a bad one leaves the weights untouched.
 */
final class TrainingJob(val config: JobConfig) {
  TrainingJob.validate(config)

  val mode: String = config.getMode
  private val initial: Array[Float] = TrainingJob.trainableFlat(config)
  private val rule = UpdateRule.create(config.getOptimizerClass,
    config.getOptimizerParamsMap.asScala.map { case (k, v) => k -> v.doubleValue }.toMap, initial.length)
  val store = new ParameterStore(initial, rule, locked = mode != "hogwild")
  private val aggregator = if (mode == "synchronous") new SyncAggregator(store, config.getNumWorkers) else null
  val history = new EpochHistory

  val samplesSeen = new AtomicLong(0)
  val pushes = new AtomicLong(0)
  private val nextWorkerId = new AtomicInteger(0)
  private val stalenessSum = new AtomicLong(0)
  private val stalenessMax = new AtomicLong(0)

  // Synchronous jobs agree on one number of steps per epoch before the first round.
  private val helloSamples = scala.collection.mutable.Map.empty[Int, Long]
  private var agreedSteps = -1

  def size: Int = initial.length
  private val deltaScale: Float = if (config.getDeltaScale == 0.0) 1f else config.getDeltaScale.toFloat

  // The first failure a worker reported; it ends the job for every worker.
  @volatile private var failureReport: WorkerFailure = null

  /** Registers a worker that has read its partition; synchronous jobs block here until every worker has joined. */
  def welcome(hello: Hello, join: Join, timeoutMs: Long): Welcome = {
    failed().foreach(f => throw new IllegalStateException(f))
    val steps = if (aggregator != null) agreeOnSteps(hello.getPartition, join.getNumSamples, timeoutMs) else 0
    val current = store.snapshot()
    Welcome.newBuilder()
      .setWorkerId(nextWorkerId.getAndIncrement())
      .setConfig(config)
      .setVersion(store.version)
      .setWeights(Tensors.fromArray(current))
      .setStepsPerEpoch(steps)
      .build()
  }

  private def agreeOnSteps(partition: Int, samples: Long, timeoutMs: Long): Int = synchronized {
    helloSamples(partition) = samples
    notifyAll()
    val deadline = System.currentTimeMillis() + timeoutMs
    while (agreedSteps < 0 && helloSamples.size < config.getNumWorkers) {
      failed().foreach(f => throw new IllegalStateException(f))
      val left = deadline - System.currentTimeMillis()
      if (left <= 0) throw new IllegalStateException(
        s"synchronous training needs ${config.getNumWorkers} workers but only ${helloSamples.size} arrived within ${timeoutMs / 1000}s")
      wait(left)
    }
    if (agreedSteps < 0) {
      val bs = math.max(1, config.getBatchSize)
      agreedSteps = helloSamples.values.map(n => ((n + bs - 1) / bs).toInt).max.max(1)
    }
    agreedSteps
  }

  /** Applies one push according to the mode; throws (leaving the weights intact) if it is malformed. */
  def push(p: Push, scratch: Array[Float], staging: Array[Byte]): Unit = {
    require(p.getSamples >= 0, s"samples must not be negative, got ${p.getSamples}")
    Tensors.readFloats(p.getValues, scratch, staging, "pushed tensor")
    val shape = p.getValues.getShapeList
    require(shape.size == 1 && shape.get(0) == size,
      s"the pushed tensor must be flat, shape [$size]; got ${shape.toString.replace(" ", "")}")
    val values = scratch
    TrainingJob.firstNonFinite(values).foreach { i =>
      throw new IllegalArgumentException(
        s"the pushed tensor holds ${values(i)} at index $i; non-finite values are refused and the weights are unchanged")
    }
    val (through, scale) = p.getKind match {
      case PushKind.GRADIENT => (rule, 1f)
      case PushKind.DELTA => (DeltaMerge, deltaScale)
      case other => throw new IllegalArgumentException(s"push kind must be GRADIENT or DELTA, got $other")
    }
    if (aggregator != null) aggregator.contribute(values, through)
    else {
      val produced = store.update(values, scale, through)
      val staleness = math.max(0L, produced - 1 - p.getBaseVersion)
      stalenessSum.addAndGet(staleness)
      stalenessMax.accumulateAndGet(staleness, (a, b) => math.max(a, b))
    }
    pushes.incrementAndGet()
    samplesSeen.addAndGet(p.getSamples)
  }

  def workerLeft(): Unit = if (aggregator != null) aggregator.leave()

  def abort(reason: String): Unit = {
    if (aggregator != null) aggregator.abort(reason)
    synchronized(notifyAll())
  }

  /** Records a worker's failure (the first one wins) and releases everyone waiting; true if it was the first. */
  def fail(report: WorkerFailure): Boolean = {
    val first = synchronized {
      if (failureReport == null) { failureReport = report; true } else false
    }
    if (first) abort(s"partition ${report.getPartition} failed: ${report.getExceptionType}: ${report.getMessage.take(500)}")
    first
  }

  def failure: Option[WorkerFailure] = Option(failureReport)

  private def failed(): Option[String] = failure.map(f => s"partition ${f.getPartition} failed: ${f.getExceptionType}")

  def meanStaleness: Double = { val n = pushes.get(); if (n == 0) 0.0 else stalenessSum.get().toDouble / n }
  def maxStaleness: Long = stalenessMax.get()
  def rounds: Long = if (aggregator != null) aggregator.rounds else 0L
}

object TrainingJob {
  /**
   * The index of the first NaN or infinite value, if any. The hot pass ORs integers (which
   * the JIT vectorizes, unlike a float sum): an all-ones exponent, plus one in the exponent's
   * lowest bit, carries into the sign bit.
   */
  def firstNonFinite(values: Array[Float]): Option[Int] = {
    var acc = 0
    var i = 0
    while (i < values.length) {
      acc |= (java.lang.Float.floatToRawIntBits(values(i)) & 0x7f800000) + 0x00800000
      i += 1
    }
    if (acc >= 0) None else Some(values.indexWhere(v => v.isNaN || v.isInfinite))
  }

  val modes: Set[String] = Set("synchronous", "asynchronous", "hogwild")

  def validate(c: JobConfig): Unit = {
    require(modes.contains(c.getMode), s"mode must be one of ${modes.toSeq.sorted.mkString(", ")}, got '${c.getMode}'")
    require(c.getNumWorkers > 0, s"num_workers must be positive, got ${c.getNumWorkers}")
    require(c.getTrainableSizesCount > 0, "the model has no trainable weights")
    UpdateRule.create(c.getOptimizerClass, Map.empty, 0) // fails with the list of supported rules
  }

  /** The trainable weights, flattened in order, taken from the initial weights the driver sent. */
  def trainableFlat(c: JobConfig): Array[Float] = {
    val total = c.getTrainableSizesList.asScala.map(_.longValue).sum
    require(total < Int.MaxValue, s"$total trainable parameters do not fit one array")
    val out = new Array[Float](total.toInt)
    // The driver sends the trainable weights first, in order, then the non-trainable ones.
    var offset = 0
    c.getTrainableSizesList.asScala.zipWithIndex.foreach { case (n, i) =>
      require(i < c.getInitialWeightsCount, "fewer initial weights than trainable variables")
      val t = c.getInitialWeights(i)
      val view = Tensors.floatView(t, n.intValue, s"initial weight $i")
      view.get(out, offset, n.intValue)
      offset += n.intValue
    }
    out
  }
}
