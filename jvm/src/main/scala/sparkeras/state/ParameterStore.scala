package sparkeras.state

import java.util.concurrent.atomic.AtomicLong

import sparkeras.codec.Tensors
import sparkeras.wire.Wire.Tensor

/**
 * The master copy of the trainable weights as one flat float array, with a version
 * that counts applied updates. Updates happen in place; `locked` decides whether
 * they are serialized (synchronous, asynchronous) or not (hogwild).
 */
final class ParameterStore(initial: Array[Float], rule: UpdateRule, locked: Boolean, copy: Boolean = true) {
  // copy = false: the caller hands the array over (a large model's weights are not held twice).
  private val weights: Array[Float] = if (copy) initial.clone() else initial
  private val versionCounter = new AtomicLong(0)
  private val lock = new Object

  def size: Int = weights.length
  def version: Long = versionCounter.get()
  def ruleName: String = rule.name
  def iterationsOfRule: Long = rule.iterations

  /** Applies one contribution; returns the version it produced. */
  def update(contribution: Array[Float], scale: Float, through: UpdateRule = rule): Long =
    if (locked) lock.synchronized { through.apply(weights, contribution, scale); versionCounter.incrementAndGet() }
    else { through.apply(weights, contribution, scale); versionCounter.incrementAndGet() }

  /**
   * Applies a worker's push computed on weights of `baseVersion` (the worker last pulled
   * `pulled`, or null); returns its staleness, the updates applied since that version, which
   * the rule sees too: both are read under the lock that applies the update.
   */
  def push(contribution: Array[Float], scale: Float, through: UpdateRule, baseVersion: Long, pulled: Array[Float]): Long = {
    def run(): Long = {
      val staleness = math.max(0L, versionCounter.get() - baseVersion)
      through.applyPush(weights, contribution, scale, staleness, pulled)
      versionCounter.incrementAndGet()
      staleness
    }
    if (locked) lock.synchronized(run()) else run()
  }

  /** Copies the weights into `into` (consistent unless hogwild); returns their version. */
  def snapshot(into: Array[Float]): Long =
    if (locked) lock.synchronized { System.arraycopy(weights, 0, into, 0, weights.length); versionCounter.get() }
    else { System.arraycopy(weights, 0, into, 0, weights.length); versionCounter.get() }

  /**
   * Writes the weights as little-endian floats into `into`, in one copy; returns their version.
   * `alsoInto` (if not null) receives the same weights as floats (ADAG keeps what a worker pulled).
   */
  def snapshotBytes(into: Array[Byte], offset: Int = 0, alsoInto: Array[Float] = null): Long = {
    def copy(): Long = {
      Tensors.copyToBytes(weights, into, offset)
      if (alsoInto != null) System.arraycopy(weights, 0, alsoInto, 0, weights.length)
      versionCounter.get()
    }
    if (locked) lock.synchronized(copy()) else copy()
  }

  def snapshot(): Array[Float] = { val out = new Array[Float](weights.length); snapshot(out); out }

  /** Lets the rule finish (Keras's `finalize_variable_values`); the version does not change. */
  def finish(): Unit = lock.synchronized(rule.finish(weights))

  /** The update rule's state, copied (callers make sure no update runs meanwhile). */
  def ruleState: (Seq[Array[Float]], Long) = (rule.slots.map(_.clone()), rule.iterations)

  /**
   * The weights and the rule's slots as FLOAT32 tensors, one copy of each, for a checkpoint
   * (callers make sure no update runs meanwhile).
   */
  def stateTensors: (Tensor, Seq[Tensor]) = (Tensors.fromArray(weights), rule.slots.map(Tensors.fromArray))

  /** As `restore`, reading a checkpoint's tensors in place: no copy of them is made first. */
  def restoreFrom(saved: Tensor, version: Long, slots: Seq[Tensor], iterations: Long): Unit = lock.synchronized {
    val mine = rule.slots
    require(slots.size == mine.size, s"the checkpoint holds ${slots.size} optimizer slots; the ${rule.name} rule has ${mine.size}")
    Tensors.floatView(saved, weights.length, "the checkpoint's weights").get(weights)
    mine.zip(slots).foreach { case (into, t) => Tensors.floatView(t, into.length, "an optimizer slot in the checkpoint").get(into) }
    versionCounter.set(version)
    rule.restore(mine, iterations) // the slots are in place already; this sets the iteration count
  }

  /** Replaces the weights (the job's initial ones, before any update), keeping the version and the rule's state. */
  def setWeights(values: Array[Float]): Unit = lock.synchronized {
    require(values.length == weights.length, s"${values.length} weights given; the model has ${weights.length}")
    System.arraycopy(values, 0, weights, 0, weights.length)
  }

  /** Puts back weights, version and rule state from a checkpoint, before any worker joins. */
  def restore(saved: Array[Float], version: Long, slots: Seq[Array[Float]], iterations: Long): Unit = lock.synchronized {
    require(saved.length == weights.length, s"the checkpoint holds ${saved.length} weights; the model has ${weights.length}")
    System.arraycopy(saved, 0, weights, 0, weights.length)
    versionCounter.set(version)
    rule.restore(slots, iterations)
  }
}
