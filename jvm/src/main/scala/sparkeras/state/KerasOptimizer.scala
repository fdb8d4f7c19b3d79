package sparkeras.state

/** One trainable variable's place in the flat weight array, and its Keras shape. */
final case class Variable(offset: Int, size: Int, shape: Array[Int]) {
  def until: Int = offset + size
}

object Variable {
  /** The variables of a model laid out one after another. */
  def layout(shapes: Seq[Array[Int]]): IndexedSeq[Variable] = {
    var offset = 0
    shapes.map { s => val v = Variable(offset, s.product, s); offset += v.size; v }.toIndexedSeq
  }
}

/**
 * What keras.optimizers.Optimizer does around every optimizer's own step, with its defaults
 * off: `weight_decay` (skipping the variables Keras excludes), one of `clipnorm`,
 * `global_clipnorm` and `clipvalue` (in that order of precedence, as Keras checks them),
 * and `use_ema` with `ema_momentum` and `ema_overwrite_frequency`.
 */
final case class OptimizerOptions(
    weightDecay: Float = 0f,
    noDecay: Set[Int] = Set.empty,
    clipnorm: Float = 0f,
    globalClipnorm: Float = 0f,
    clipvalue: Float = 0f,
    useEma: Boolean = false,
    emaMomentum: Float = 0.99f,
    emaOverwriteFrequency: Int = 0)

object OptimizerOptions {
  def from(params: Map[String, Double], noDecay: Set[Int]): OptimizerOptions = {
    def p(key: String, default: Double): Float = params.getOrElse(key, default).toFloat
    OptimizerOptions(p("weight_decay", 0), noDecay, p("clipnorm", 0), p("global_clipnorm", 0), p("clipvalue", 0),
      params.getOrElse("use_ema", 0.0) != 0.0, p("ema_momentum", 0.99), params.getOrElse("ema_overwrite_frequency", 0.0).toInt)
  }
}

/**
 * A Keras optimizer on the server: Keras's `apply` (clip, decay weights, the optimizer's
 * step per variable, moving average, then `iterations += 1`) around the subclass's
 * `update`, with the learning rate a constant (settable by driver callbacks) or a schedule
 * of the iteration count.
 */
abstract class KerasOptimizer(val name: String, initialLearningRate: Float, schedule: Option[LearningRateSchedule],
                              val options: OptimizerOptions, val variables: IndexedSeq[Variable]) extends UpdateRule {
  learningRate = initialLearningRate
  /** Keras's `optimizer.iterations`: steps applied before this one. */
  protected var step = 0L
  protected val size: Int = if (variables.isEmpty) 0 else variables.last.until
  private val average = if (options.useEma) new Array[Float](size) else null
  private val clipScale = new Array[Float](variables.size)

  /** The optimizer's own state arrays, in a fixed order (checkpoints restore them by position). */
  protected def ownSlots: Seq[Array[Float]]
  final override def slots: Seq[Array[Float]] = ownSlots ++ Option(average)
  final override def iterations: Long = step
  final override protected def restoreIterations(n: Long): Unit = step = n

  override def currentLearningRate: Float = schedule.fold(learningRate)(_.at(step))
  override def setLearningRate(lr: Float): Unit = {
    require(schedule.isEmpty, s"the $name optimizer's learning rate is a schedule of the step count; it cannot be set")
    super.setLearningRate(lr)
  }

  /** Called once per step before the variables' updates (Nadam keeps a running product here). */
  protected def beginStep(lr: Float): Unit = ()

  /** The optimizer's step for one variable: gradient `g(i) * scale` for weight `w(i)`, i in `v`. */
  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, index: Int, v: Variable): Unit

  final def apply(w: Array[Float], contribution: Array[Float], scale: Float): Unit = {
    val lr = currentLearningRate
    val g = clip(contribution, scale)
    if (options.weightDecay != 0f) {
      val decay = options.weightDecay
      variables.indices.foreach { k =>
        if (!options.noDecay.contains(k)) {
          val v = variables(k)
          var i = v.offset
          while (i < v.until) { w(i) = w(i) - w(i) * decay * lr; i += 1 }
        }
      }
    }
    beginStep(lr)
    variables.indices.foreach(k => update(w, g, clipScale(k), lr, k, variables(k)))
    if (average != null) {
      val momentum = if (step == 0) 0f else options.emaMomentum
      var i = 0
      while (i < size) { average(i) = momentum * average(i) + (1f - momentum) * w(i); i += 1 }
      if (options.emaOverwriteFrequency > 0 && (step + 1) % options.emaOverwriteFrequency == 0)
        System.arraycopy(average, 0, w, 0, size)
    }
    step += 1
  }

  /** Keras's `finalize_variable_values` at the end of fit: with `use_ema`, the weights become their average. */
  override def finish(w: Array[Float]): Unit = if (average != null && step > 0) System.arraycopy(average, 0, w, 0, size)

  /**
   * The gradient after clipping, with `clipScale` set per variable. Norm clipping only scales, so the
   * contribution is used as it is; value clipping needs a clipped copy.
   */
  private def clip(g: Array[Float], scale: Float): Array[Float] = {
    java.util.Arrays.fill(clipScale, scale)
    if (options.clipnorm > 0f) {
      variables.indices.foreach { k =>
        val norm = math.sqrt(sumOfSquares(g, scale, variables(k))).toFloat
        if (norm > options.clipnorm) clipScale(k) = scale * options.clipnorm / norm
      }
      g
    } else if (options.globalClipnorm > 0f) {
      val norm = math.sqrt(variables.map(v => sumOfSquares(g, scale, v)).sum).toFloat
      // As Keras: clip_norm * min(1/norm, 1/clip_norm); a non-finite norm makes the update NaN, which the next push check refuses.
      val factor = options.globalClipnorm * math.min(1f / norm, 1f / options.globalClipnorm)
      java.util.Arrays.fill(clipScale, scale * factor)
      g
    } else if (options.clipvalue > 0f) {
      val c = options.clipvalue
      val out = new Array[Float](g.length)
      var i = 0
      while (i < out.length) { out(i) = math.max(-c, math.min(c, g(i) * scale)); i += 1 }
      java.util.Arrays.fill(clipScale, 1f)
      out
    } else g
  }

  private def sumOfSquares(g: Array[Float], scale: Float, v: Variable): Double = {
    var s = 0.0
    var i = v.offset
    while (i < v.until) { val x = g(i) * scale; s += x * x; i += 1 }
    s
  }
}
