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
final class TrainingJob(received: JobConfig, stagingBytes: Long = TrainingJob.DefaultStagingBytes) {
  TrainingJob.validate(received)

  /** The configuration without the trainable initial weights (the store holds the only copy; workers get them in the Welcome). */
  val config: JobConfig = TrainingJob.withoutTrainableData(received)
  val mode: String = config.getMode
  private val parameters: Int = config.getTrainableSizesList.asScala.map(_.longValue).sum.toInt
  private val rule = TrainingJob.rule(config)
  val store = new ParameterStore(TrainingJob.trainableFlat(received), rule, locked = mode != "hogwild", copy = false)
  // The configuration came without the trainable weights' bytes: they follow in a Push of kind INITIAL.
  @volatile private var initialPending = TrainingJob.initialFollows(received)
  /** Arrays for large pushes and weight replies, shared by all connections (see StagingPool). */
  val staging = new StagingPool(parameters, StagingPool.arraysFor(parameters, config.getNumWorkers, stagingBytes))
  val history = new EpochHistory
  val algorithm: String = config.getAlgorithm
  // How DELTA pushes are merged: added (scaled by delta_scale), or scaled by their staleness.
  private val merge = AlgorithmMerge.create(algorithm, config.getAlgorithmParamsMap.asScala.map { case (k, v) => k -> v.doubleValue }.toMap)

  val samplesSeen = new AtomicLong(0)
  val pushes = new AtomicLong(0)
  private val nextWorkerId = new AtomicInteger(0)
  private val stalenessSum = new AtomicLong(0)
  private val stalenessMax = new AtomicLong(0)
  val lostWorkers = new AtomicLong(0)

  private val aggregator =
    if (mode == "synchronous") new SyncAggregator(store, config.getNumWorkers, samples => samplesSeen.addAndGet(samples))
    else null

  // Asynchronous and hogwild: how many of each partition's pushes are applied, and which attempt owns it.
  private final class PartitionProgress { var pushes = 0L; var owner: WorkerClaim = null }
  private val progress = new java.util.concurrent.ConcurrentHashMap[Int, PartitionProgress]()
  // Pushes share it; a checkpoint takes it alone, so that weights and push counts agree.
  private val checkpointLock = new java.util.concurrent.locks.ReentrantReadWriteLock()

  // Partitions with no training rows never report epochs; an epoch is complete without them.
  private val emptyPartitions = java.util.concurrent.ConcurrentHashMap.newKeySet[Int]()
  private val completedEpochs = java.util.concurrent.ConcurrentHashMap.newKeySet[Int]()
  (0 until config.getInitialEpoch).foreach(completedEpochs.add) // fit(initial_epoch=...): done before this job
  /** Called once per epoch that every partition has reported, with the number of epochs done. */
  @volatile var onEpochComplete: Int => Unit = _ => ()

  // Synchronous jobs agree on one number of steps per epoch before the first round; a retried
  // barrier stage joins again as a new generation and keeps the agreement.
  private val rowCounts = scala.collection.mutable.Map.empty[Int, Long]
  private val joinedThisGeneration = scala.collection.mutable.Set.empty[Int]
  private var agreedSteps = -1

  def size: Int = parameters
  private val deltaScale: Float = if (config.getDeltaScale == 0.0) 1f else config.getDeltaScale.toFloat

  // The first failure a worker reported; it ends the job for every worker.
  @volatile private var failureReport: WorkerFailure = null

  /**
   * Registers a worker that has read its partition and tells it where to resume: the number
   * of its pushes (synchronous: rounds) the server already holds. A later attempt for the same
   * partition supersedes the earlier one. Synchronous jobs block here until every worker has joined.
   */
  def welcome(claim: WorkerClaim, join: Join, timeoutMs: Long): Welcome = {
    val current = new Array[Float](store.size)
    welcomeInto(claim, join, timeoutMs, () => current).toBuilder.setWeights(Tensors.fromArray(current)).build()
  }

  /**
   * As `welcome`, without the weights: they are snapshotted into the array `into` returns,
   * asked for only after a synchronous job's workers have all joined (so that a worker
   * waiting for the others holds no staging array), and sent by the caller.
   */
  def welcomeInto(claim: WorkerClaim, join: Join, timeoutMs: Long, into: () => Array[Float]): Welcome = {
    failed().foreach(f => throw new IllegalStateException(f))
    if (initialPending) throw new IllegalStateException("the driver has not sent the job's initial weights yet")
    val (steps, resume) =
      if (aggregator != null) joinGeneration(claim, join.getNumSamples, timeoutMs)
      else (0, claimPartition(claim))
    claim.joined = true
    val current = into()
    val version = store.snapshot(current) // the weights and their version, read together
    if (merge.needsPulled) claim.pulled = current.clone()
    if (join.getNumSamples == 0) emptyPartitions.add(claim.partition)
    liveOf(claim.partition).synchronized { liveOf(claim.partition).rows = join.getNumSamples }
    val w = Welcome.newBuilder()
      .setWorkerId(nextWorkerId.getAndIncrement())
      .setConfig(config)
      .setVersion(version)
      .setStepsPerEpoch(steps)
      .setResumePushes(resume)
    Option(resumedState).foreach(w.setResumedState)
    w.build()
  }

  private def claimPartition(claim: WorkerClaim): Long = {
    val p = progress.computeIfAbsent(claim.partition, _ => new PartitionProgress)
    p.synchronized { p.owner = claim; p.pushes }
  }

  private def joinGeneration(claim: WorkerClaim, samples: Long, timeoutMs: Long): (Int, Long) = synchronized {
    // A partition joining twice, or a join after a lost worker, means Spark retried the barrier stage.
    if (joinedThisGeneration.contains(claim.partition) || aggregator.isAbandoned(aggregator.currentGeneration)) {
      aggregator.restart()
      joinedThisGeneration.clear()
    }
    val gen = aggregator.currentGeneration
    claim.generation = gen
    joinedThisGeneration += claim.partition
    rowCounts(claim.partition) = samples
    notifyAll()
    val deadline = System.currentTimeMillis() + timeoutMs
    def stale = aggregator.currentGeneration != gen || aggregator.isAbandoned(gen)
    while (!stale && joinedThisGeneration.size < config.getNumWorkers) {
      failed().foreach(f => throw new IllegalStateException(f))
      val left = deadline - System.currentTimeMillis()
      if (left <= 0) throw new IllegalStateException(
        s"synchronous training needs ${config.getNumWorkers} workers but only ${joinedThisGeneration.size} arrived within ${timeoutMs / 1000}s")
      wait(left)
    }
    if (stale) throw new SupersededException(
      s"partition ${claim.partition} joined an attempt of the barrier stage that was abandoned; Spark retries it")
    if (agreedSteps < 0) {
      val bs = math.max(1, config.getBatchSize)
      agreedSteps = rowCounts.values.map(n => ((n + bs - 1) / bs).toInt).max.max(1)
    }
    (agreedSteps, aggregator.rounds)
  }

  /** Applies one push according to the mode; throws (leaving the weights intact) if it is malformed or superseded. */
  def push(p: Push, scratch: Array[Float], staging: Array[Byte], claim: WorkerClaim): Unit = {
    require(claim.joined, "a worker must join the job before it pushes")
    Tensors.readFloats(p.getValues, scratch, staging, "pushed tensor")
    pushDecoded(p, scratch, claim)
  }

  /**
   * As `push`, with the tensor's values already decoded into `values` (a streamed push, whose
   * tensor in `p` carries no bytes). `added` runs once `values` is no longer needed, before a
   * synchronous worker waits for its round, so that its staging array is free meanwhile.
   */
  def pushDecoded(p: Push, values: Array[Float], claim: WorkerClaim, added: () => Unit = () => ()): Unit = {
    require(claim.joined, "a worker must join the job before it pushes")
    require(p.getSamples >= 0, s"samples must not be negative, got ${p.getSamples}")
    require(p.getValues.getDtype == DType.FLOAT32, s"the pushed tensor must be FLOAT32, got ${p.getValues.getDtype}")
    require(values.length == size, s"the pushed tensor has ${values.length} floats but the model has $size trainable parameters")
    val shape = p.getValues.getShapeList
    require(shape.size == 1 && shape.get(0) == size,
      s"the pushed tensor must be flat, shape [$size]; got ${shape.toString.replace(" ", "")}")
    TrainingJob.firstNonFinite(values).foreach { i =>
      throw new IllegalArgumentException(
        s"the pushed tensor holds ${values(i)} at index $i; non-finite values are refused and the weights are unchanged")
    }
    val (through, scale) = p.getKind match {
      case PushKind.GRADIENT => (rule, 1f)
      case PushKind.DELTA => (if (aggregator != null) DeltaMerge else merge, deltaScale)
      case other => throw new IllegalArgumentException(s"push kind must be GRADIENT or DELTA, got $other")
    }
    if (aggregator != null) aggregator.contribute(values, through, p.getSamples, claim.generation, added)
    else {
      val part = progress.get(claim.partition)
      // Under the partition's lock, so that a retried attempt's join sees every applied push, and no more.
      checkpointLock.readLock.lock()
      try part.synchronized {
        if (part.owner ne claim) throw new SupersededException(
          s"partition ${claim.partition} was taken over by a later attempt; pushes from attempt ${claim.attempt} are refused")
        val staleness = store.push(values, scale, through, p.getBaseVersion, claim.pulled)
        part.pushes += 1
        samplesSeen.addAndGet(p.getSamples)
        history.recordStaleness(p.getEpoch, staleness)
        stalenessSum.addAndGet(staleness)
        stalenessMax.accumulateAndGet(staleness, (a, b) => math.max(a, b))
      } finally checkpointLock.readLock.unlock()
    }
    pushes.incrementAndGet()
    val l = liveOf(claim.partition)
    l.synchronized {
      l.samples += p.getSamples
      if (p.getRunningMetricsCount > 0) l.metrics = p.getRunningMetricsMap.asScala.map { case (k, v) => k -> v.doubleValue }.toMap
    }
  }

  /** The driver's initial trainable weights (a Push of kind INITIAL), accepted once, before any worker joins. */
  def setInitial(p: Push, values: Array[Float]): Unit = synchronized {
    require(initialPending, "the initial weights were already given (in the configuration, or by an earlier push)")
    require(p.getValues.getDtype == DType.FLOAT32, s"the initial weights must be FLOAT32, got ${p.getValues.getDtype}")
    require(values.length == size, s"the initial weights have ${values.length} floats; the model has $size trainable parameters")
    store.setWeights(values)
    initialPending = false
  }

  // Each partition's progress through its current epoch, for the driver's live progress bar.
  private final class Live { var epoch = 0; var rows = 0L; var samples = 0L; var metrics = Map.empty[String, Double] }
  private val live = new java.util.concurrent.ConcurrentHashMap[Int, Live]()
  private def liveOf(partition: Int): Live = live.computeIfAbsent(partition, _ => new Live)

  /**
   * Progress through `epoch`: (samples trained in it, training rows per epoch, steps per epoch
   * of the largest partition, the running metrics of the workers in it weighted by samples).
   */
  def liveProgress(epoch: Int): (Long, Long, Int, Map[String, Double]) = {
    var (samples, rows, largest) = (0L, 0L, 0L)
    val sums = scala.collection.mutable.Map.empty[String, Double].withDefaultValue(0.0)
    var weight = 0L
    live.values.asScala.foreach { l => l.synchronized {
      rows += l.rows
      largest = math.max(largest, l.rows)
      if (l.epoch > epoch) samples += l.rows
      else if (l.epoch == epoch) {
        samples += math.min(l.samples, l.rows)
        if (l.metrics.nonEmpty && l.samples > 0) { l.metrics.foreach { case (k, v) => sums(k) += v * l.samples }; weight += l.samples }
      }
    } }
    val bs = math.max(1, config.getBatchSize)
    val steps = synchronized(if (agreedSteps > 0) agreedSteps else ((largest + bs - 1) / bs).toInt)
    (samples, rows, steps, if (weight == 0) Map.empty else sums.map { case (k, v) => k -> v / weight }.toMap)
  }

  // A job restored from a checkpoint: the non-trainable state workers start from (null otherwise).
  @volatile private var resumedState: WorkerState = null
  // Each partition's latest non-trainable state and its row count.
  private val states = new java.util.concurrent.ConcurrentHashMap[Int, (Array[Float], Long)]()
  // The ensemble algorithm: each partition's own trained model (a retried attempt's replaces the first's).
  private val members = new java.util.concurrent.ConcurrentSkipListMap[Int, WorkerState]()

  /** The weights ADAG keeps of what `claim` last pulled (null for other algorithms): replies copy into it. */
  def pulledBy(claim: WorkerClaim): Array[Float] = claim.pulled

  /**
   * A worker's non-trainable state after training (a retried attempt's replaces the first's);
   * under the ensemble algorithm, with its trained weights.
   */
  def recordState(claim: WorkerClaim, s: WorkerState): Unit = if (!superseded(claim) && s.getSamples > 0) {
    if (s.hasTrainable) {
      require(algorithm == "ensemble", "trained weights are sent only by the ensemble algorithm's workers")
      val weights = Tensors.toArray(s.getTrainable, "member weights")
      require(weights.length == size, s"a member's weights have ${weights.length} values; the model has $size")
      TrainingJob.firstNonFinite(weights).foreach(i => throw new IllegalArgumentException(
        s"the member's weights hold ${weights(i)} at index $i; refused"))
      members.put(claim.partition, s.toBuilder.setPartition(claim.partition).build())
    }
    if (s.hasNonTrainable) recordNonTrainable(claim, s)
  }

  /** The ensemble algorithm's trained models, by partition. */
  def membersProto: Members = Members.newBuilder().addAllMembers(members.values()).build()

  private def recordNonTrainable(claim: WorkerClaim, s: WorkerState): Unit = {
    val values = Tensors.toArray(s.getNonTrainable, "non-trainable state")
    TrainingJob.firstNonFinite(values).foreach(i => throw new IllegalArgumentException(
      s"the non-trainable state holds ${values(i)} at index $i; refused"))
    val sizes = states.values.asScala.map(_._1.length).toSet
    require(sizes.isEmpty || sizes == Set(values.length),
      s"the non-trainable state has ${values.length} values; other workers sent ${sizes.mkString(", ")}")
    states.put(claim.partition, (values, s.getSamples))
  }

  /** The partitions' non-trainable states, averaged by rows (empty when none was sent). */
  def meanState: WorkerState = {
    val all = states.values.asScala.toSeq
    if (all.isEmpty) WorkerState.getDefaultInstance
    else {
      val total = all.map(_._2).sum
      val mean = new Array[Double](all.head._1.length)
      all.foreach { case (values, n) =>
        val w = n.toDouble / total
        var i = 0
        while (i < mean.length) { mean(i) += w * values(i); i += 1 }
      }
      WorkerState.newBuilder().setNonTrainable(Tensors.fromArray(mean.map(_.toFloat))).setSamples(total).build()
    }
  }

  // Set by the driver when a callback sets model.stop_training: workers stop after the epoch they report.
  @volatile var stopRequested = false

  /** Workers stop after the epoch they are in (a driver callback set model.stop_training). */
  def requestStop(): Unit = synchronized { stopRequested = true; notifyAll() }

  // With driver callbacks that may stop training (EarlyStopping), a worker that finished epoch e
  // waits until they have seen epoch e - 1: it runs at most one epoch ahead of them.
  @volatile private var callbackGate = false
  private var callbacksSeen = 0 // epochs, counted from 0, whose on_epoch_end has returned
  @volatile private var aborted = false

  def gateOnCallbacks(fromEpoch: Int): Unit = synchronized { callbacksSeen = fromEpoch; callbackGate = true }

  def callbacksFinished(epochs: Int): Unit = synchronized { callbacksSeen = math.max(callbacksSeen, epochs); notifyAll() }

  /** Returns once the callbacks have seen the epoch before `epoch`, training stops or fails, or after `timeoutMs`. */
  def awaitCallbacks(epoch: Int, timeoutMs: Long): Unit = if (callbackGate) synchronized {
    val deadline = System.nanoTime() + timeoutMs * 1000000L
    var left = timeoutMs
    while (callbacksSeen < epoch && !stopRequested && !aborted && failureReport == null && left > 0) {
      wait(left)
      left = (deadline - System.nanoTime()) / 1000000L
    }
  }

  /** Epochs that every partition has reported, counted from the first: the driver's callbacks run on them. */
  def epochsCompleted: Int = { var n = 0; while (completedEpochs.contains(n)) n += 1; n }

  /** The server rule's learning rate now (NaN for delta merging), and a change from a driver callback. */
  def learningRate: Float = rule.currentLearningRate
  def setLearningRate(lr: Float): Unit = rule.setLearningRate(lr)
  def iterations: Long = rule.iterations

  /** A worker's metrics for one epoch; the last partition to report an epoch completes it. */
  def recordMetrics(claim: WorkerClaim, m: EpochMetrics): Unit = if (!superseded(claim)) {
    val l = liveOf(claim.partition)
    l.synchronized { l.epoch = m.getEpoch + 1; l.samples = 0; l.metrics = Map.empty }
    val reported = history.record(claim.partition, m)
    if (reported >= config.getNumWorkers - emptyPartitions.size && completedEpochs.add(m.getEpoch))
      onEpochComplete(m.getEpoch + 1)
  }

  /** The job's state, consistent: no push or round is applied while it is taken. */
  def checkpoint(fingerprint: String, epochsDone: Int): Checkpoint = {
    val b = Checkpoint.newBuilder().setFingerprint(fingerprint).setEpochsDone(epochsDone)
    def fill(): Unit = {
      val (weights, slots) = store.stateTensors // one copy each, while no update runs
      b.setWeights(weights).setVersion(store.version).setSamples(samplesSeen.get)
      slots.foreach(b.addOptimizerSlots)
      b.setOptimizerIterations(store.iterationsOfRule)
    }
    if (aggregator != null) aggregator.betweenRounds { rounds =>
      fill(); b.setRounds(rounds).setStepsPerEpoch(synchronized(agreedSteps.max(0)))
    } else {
      checkpointLock.writeLock.lock()
      try { fill(); progress.forEach((p, pp) => b.putPartitionPushes(p, pp.synchronized(pp.pushes))) }
      finally checkpointLock.writeLock.unlock()
    }
    history.all.foreach { case (p, m) => b.addMetrics(Checkpoint.PartitionMetrics.newBuilder().setPartition(p).setMetrics(m)) }
    history.stalenessRecords.foreach { case (e, n, sum, max) =>
      b.addStaleness(Checkpoint.EpochStaleness.newBuilder().setEpoch(e).setPushes(n).setSum(sum).setMax(max))
    }
    states.forEach { (p, state) =>
      b.addStates(WorkerState.newBuilder().setPartition(p).setSamples(state._2).setNonTrainable(Tensors.fromArray(state._1)))
    }
    b.build()
  }

  /** Starts this job from a checkpoint of the same job, before any worker joins. */
  def restore(cp: Checkpoint): Unit = {
    store.restoreFrom(cp.getWeights, cp.getVersion, cp.getOptimizerSlotsList.asScala.toSeq, cp.getOptimizerIterations)
    samplesSeen.set(cp.getSamples)
    cp.getPartitionPushesMap.asScala.foreach { case (p, n) =>
      progress.computeIfAbsent(p.intValue, _ => new PartitionProgress).pushes = n.longValue
    }
    if (aggregator != null) {
      aggregator.restoreRounds(cp.getRounds)
      if (cp.getStepsPerEpoch > 0) synchronized { agreedSteps = cp.getStepsPerEpoch }
    }
    cp.getMetricsList.asScala.foreach(pm => history.record(pm.getPartition, pm.getMetrics))
    cp.getStalenessList.asScala.foreach(s => history.restoreStaleness(s.getEpoch, s.getPushes, s.getSum, s.getMax))
    cp.getStatesList.asScala.foreach { s =>
      states.put(s.getPartition, (Tensors.toArray(s.getNonTrainable, "checkpointed non-trainable state"), s.getSamples))
    }
    if (!states.isEmpty) resumedState = meanState
    (0 until cp.getEpochsDone).foreach(completedEpochs.add)
  }

  private val finished = new java.util.concurrent.atomic.AtomicBoolean(false)
  /** The driver takes the trained weights: the optimizer finishes them, once. */
  def finishTraining(): Unit = if (finished.compareAndSet(false, true)) store.finish()

  /** The worker said Done. */
  def workerFinished(claim: WorkerClaim): Unit = if (claim.joined && !claim.finished) {
    claim.finished = true
    if (aggregator != null) aggregator.leave(claim.generation)
  }

  /** The worker's connection closed before it said Done: its task died, and Spark may retry it. */
  def workerLost(claim: WorkerClaim): Unit = if (claim.joined && !claim.finished) {
    claim.finished = true
    lostWorkers.incrementAndGet()
    if (aggregator != null && aggregator.abandon(claim.generation,
        s"partition ${claim.partition} was lost after round ${aggregator.rounds}; Spark retries the barrier stage, " +
          "which resumes after the last completed round")) synchronized(notifyAll())
  }

  /** True when the claim has been replaced by a later attempt (its reports are not the job's failure). */
  def superseded(claim: WorkerClaim): Boolean = claim.joined && (
    if (aggregator != null) aggregator.isAbandoned(claim.generation)
    else Option(progress.get(claim.partition)).exists(p => p.synchronized(p.owner ne claim)))

  def abort(reason: String): Unit = {
    if (aggregator != null) aggregator.abort(reason)
    synchronized { aborted = true; notifyAll() }
  }

  /**
   * Records a worker's failure (the first one wins) and releases everyone waiting; true if it
   * was the first. Reports from superseded attempts are not the job's failure: Spark retries them.
   */
  def fail(report: WorkerFailure, claim: WorkerClaim): Boolean = {
    if (superseded(claim)) return false
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

  /** The update rule a job configures: its optimizer, hyper-parameters, variable shapes, schedule and decay exclusions. */
  def rule(c: JobConfig): UpdateRule = {
    val params = c.getOptimizerParamsMap.asScala.map { case (k, v) => k -> v.doubleValue }.toMap
    val shapes = c.getTrainableSizesList.asScala.zipWithIndex.map { case (n, i) =>
      val shape = if (i < c.getInitialWeightsCount) c.getInitialWeights(i).getShapeList.asScala.map(_.intValue).toArray
                  else Array.empty[Int]
      // The sizes are what the job promises; a shape that disagrees is replaced by a flat one.
      if (shape.nonEmpty && shape.map(_.toLong).product == n.longValue) shape else Array(n.intValue)
    }
    val schedule =
      if (!c.hasLearningRateSchedule) None
      else {
        val s = c.getLearningRateSchedule
        Some(sparkeras.state.LearningRateSchedule.create(s.getClassName, s.getParamsMap.asScala.map { case (k, v) => k -> v.doubleValue }.toMap,
          s.getBoundariesList.asScala.map(_.doubleValue).toSeq, s.getValuesList.asScala.map(_.doubleValue).toSeq))
      }
    UpdateRule.create(c.getOptimizerClass, params, Variable.layout(shapes.toSeq), schedule,
      c.getNoWeightDecayList.asScala.map(_.intValue).toSet)
  }

  /** The staging arrays' budget when the server is not told one (spark.sparkeras.server.stagingMemory). */
  val DefaultStagingBytes: Long = 64L << 20

  /**
   * The driver heap one job needs, in bytes, for `trainable` parameters and `total` weights in
   * all. Kept for the whole fit: the master weights and the rule's slots, a synchronous job's
   * round sum, `perWorkerCopies` more copies per worker for some algorithms (ADAG's pulled
   * weights, an ensemble's members) and the non-trainable initial weights. On top of that,
   * the larger of the job configuration as it arrives (every initial weight, once, before
   * training) and the staging: a model whose weights fill more than `streamAbove` bytes is
   * pushed and pulled through the job's staging arrays (`StagingPool.arraysFor`); a smaller
   * one through each worker connection's own frame buffer, pushed values, staging bytes and
   * reply (4 copies per worker, small by definition). With `checkpointing`, one copy of the
   * weights, slots and non-trainable state more: what a checkpoint holds while it is written,
   * or parsed when a fit resumes.
   */
  def heapNeeded(trainable: Long, total: Long, slots: Int, workers: Int, synchronous: Boolean, perWorkerCopies: Int,
                 streamAbove: Long, stagingBytes: Long, checkpointing: Boolean = false): Long = {
    val kept = 4L * trainable * (1 + slots + (if (synchronous) 1 else 0) + perWorkerCopies.toLong * workers) +
      4L * (total - trainable)
    val staging =
      if (4L * trainable > streamAbove) 4L * trainable * StagingPool.arraysFor(trainable, workers, stagingBytes)
      else 4L * 4L * trainable * workers
    // A checkpoint holds one copy of the weights, slots and non-trainable state while it is written (or parsed, on resume).
    val checkpoint = if (checkpointing) 4L * (trainable * (1 + slots) + (total - trainable)) else 0L
    kept + math.max(4L * total, staging) + checkpoint
  }

  /** As above, with the server's defaults. */
  def heapNeeded(trainable: Long, total: Long, slots: Int, workers: Int, synchronous: Boolean): Long =
    heapNeeded(trainable, total, slots, workers, synchronous, 0, StreamAboveBytes, DefaultStagingBytes)

  /** Frames above this many bytes are streamed (pushes) or not kept (others); replies above it are streamed too. */
  val StreamAboveBytes: Int = 4 << 20

  /**
   * `c` without the bytes of its trainable initial weights (their dtype and shape stay), and
   * with its other tensors copied, so that nothing aliases the frame it arrived in.
   */
  def withoutTrainableData(c: JobConfig): JobConfig = {
    val b = c.toBuilder.clearInitialWeights()
    c.getInitialWeightsList.asScala.zipWithIndex.foreach { case (t, i) =>
      if (i < c.getTrainableSizesCount) b.addInitialWeights(t.toBuilder.clearData())
      else b.addInitialWeights(t.toBuilder.setData(com.google.protobuf.ByteString.copyFrom(t.getData.asReadOnlyByteBuffer())))
    }
    b.build()
  }

  def validate(c: JobConfig): Unit = {
    require(modes.contains(c.getMode), s"mode must be one of ${modes.toSeq.sorted.mkString(", ")}, got '${c.getMode}'")
    require(c.getNumWorkers > 0, s"num_workers must be positive, got ${c.getNumWorkers}")
    require(c.getInitialEpoch >= 0 && c.getInitialEpoch < math.max(1, c.getEpochs),
      s"initial_epoch must be in [0, epochs), got ${c.getInitialEpoch} with epochs ${c.getEpochs}")
    require(c.getTrainableSizesCount > 0, "the model has no trainable weights")
    UpdateRule.requireKnown(c.getOptimizerClass)
    AlgorithmMerge.requireKnown(c.getAlgorithm)
    require(c.getAlgorithm.isEmpty || c.getMode != "synchronous",
      s"the ${c.getAlgorithm} algorithm runs in the asynchronous and hogwild modes, not synchronous")
    if (c.getAlgorithm == "adag") {
      val gamma = c.getAlgorithmParamsMap.getOrDefault("gamma", 1e-4)
      require(gamma > 0 && !gamma.isInfinite, s"ADAG's gamma must be positive and finite, got $gamma")
    }
  }

  /** Whether the configuration's trainable initial weights come without bytes (a Push of kind INITIAL follows). */
  def initialFollows(c: JobConfig): Boolean =
    c.getTrainableSizesCount > 0 && c.getInitialWeightsCount >= c.getTrainableSizesCount &&
      (0 until c.getTrainableSizesCount).forall(i => c.getInitialWeights(i).getData.isEmpty) &&
      c.getTrainableSizesList.asScala.exists(_ > 0)

  /** The trainable weights, flattened in order, taken from the initial weights the driver sent (zeros if they follow). */
  def trainableFlat(c: JobConfig): Array[Float] = {
    val total = c.getTrainableSizesList.asScala.map(_.longValue).sum
    require(total < Int.MaxValue, s"$total trainable parameters do not fit one array")
    val out = new Array[Float](total.toInt)
    if (initialFollows(c)) return out
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
