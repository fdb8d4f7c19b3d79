package sparkeras.state

/**
 * How a contribution changes the master weights, in place. Rules that keep state
 * (momentum, Adam's moments) own it; callers serialize calls except in hogwild mode.
 */
trait UpdateRule {
  def name: String
  def apply(weights: Array[Float], contribution: Array[Float], scale: Float): Unit

  /** The rule's state, for checkpoints: its slot arrays (live, not copies) and iteration count. */
  def slots: Seq[Array[Float]] = Nil
  def iterations: Long = 0L

  /** Restores state saved from `slots` and `iterations` of the same rule. */
  def restore(saved: Seq[Array[Float]], iterations: Long): Unit = {
    val mine = slots
    require(saved.size == mine.size, s"the checkpoint holds ${saved.size} optimizer slots; the $name rule has ${mine.size}")
    mine.zip(saved).foreach { case (into, from) =>
      require(into.length == from.length, s"an optimizer slot of ${from.length} values does not fit ${into.length}")
      System.arraycopy(from, 0, into, 0, into.length)
    }
    restoreIterations(iterations)
  }
  protected def restoreIterations(n: Long): Unit = ()

  /** The learning rate now; a driver-side callback (ReduceLROnPlateau, LearningRateScheduler) may change it. */
  @volatile var learningRate: Float = Float.NaN
  def setLearningRate(lr: Float): Unit = {
    require(!learningRate.isNaN, s"the $name rule has no learning rate")
    require(lr > 0 && !lr.isInfinite, s"a learning rate must be positive and finite, got $lr")
    learningRate = lr
  }
}

/** Adds the contribution: elephas's delta merge, and the merge step of model averaging. */
object DeltaMerge extends UpdateRule {
  val name = "delta"
  def apply(w: Array[Float], d: Array[Float], scale: Float): Unit = {
    var i = 0
    while (i < w.length) { w(i) += scale * d(i); i += 1 }
  }
}

/** Keras's SGD: plain, with momentum, or Nesterov momentum. */
final class Sgd(initialLearningRate: Float, momentum: Float, nesterov: Boolean, size: Int) extends UpdateRule {
  learningRate = initialLearningRate
  val name = "sgd"
  private val velocity = if (momentum != 0f) new Array[Float](size) else null
  override def slots: Seq[Array[Float]] = Option(velocity).toSeq

  def apply(w: Array[Float], g: Array[Float], scale: Float): Unit = {
    val lr = learningRate * scale
    var i = 0
    if (velocity == null) {
      while (i < w.length) { w(i) -= lr * g(i); i += 1 }
    } else if (!nesterov) {
      while (i < w.length) {
        val m = momentum * velocity(i) - lr * g(i)
        velocity(i) = m; w(i) += m; i += 1
      }
    } else {
      while (i < w.length) {
        val gi = lr * g(i)
        val m = momentum * velocity(i) - gi
        velocity(i) = m; w(i) += momentum * m - gi; i += 1
      }
    }
  }
}

/** Keras's Adam (with optional AMSGrad), the same arithmetic as keras.optimizers.Adam. */
final class Adam(initialLearningRate: Float, beta1: Float, beta2: Float, epsilon: Float, amsgrad: Boolean, size: Int)
    extends UpdateRule {
  learningRate = initialLearningRate
  val name = "adam"
  private val m = new Array[Float](size)
  private val v = new Array[Float](size)
  private val vMax = if (amsgrad) new Array[Float](size) else null
  private var step = 0L
  override def slots: Seq[Array[Float]] = Seq(m, v) ++ Option(vMax)
  override def iterations: Long = step
  override protected def restoreIterations(n: Long): Unit = step = n

  def apply(w: Array[Float], g: Array[Float], scale: Float): Unit = {
    step += 1
    val b1Power = math.pow(beta1.toDouble, step.toDouble)
    val b2Power = math.pow(beta2.toDouble, step.toDouble)
    val alpha = (learningRate * math.sqrt(1 - b2Power) / (1 - b1Power)).toFloat
    val oneMinusB1 = 1f - beta1
    val oneMinusB2 = 1f - beta2
    val n = w.length
    var i = 0
    if (vMax == null) {
      // Plain float arithmetic in one loop, so the JIT can vectorize it.
      while (i < n) {
        val gi = g(i) * scale
        val mi = m(i) + (gi - m(i)) * oneMinusB1
        val vi = v(i) + (gi * gi - v(i)) * oneMinusB2
        m(i) = mi
        v(i) = vi
        w(i) -= alpha * mi / (java.lang.Math.sqrt(vi.toDouble).toFloat + epsilon)
        i += 1
      }
    } else {
      while (i < n) {
        val gi = g(i) * scale
        val mi = m(i) + (gi - m(i)) * oneMinusB1
        val vi = v(i) + (gi * gi - v(i)) * oneMinusB2
        m(i) = mi
        v(i) = vi
        val vh = java.lang.Math.max(vMax(i), vi)
        vMax(i) = vh
        w(i) -= alpha * mi / (java.lang.Math.sqrt(vh.toDouble).toFloat + epsilon)
        i += 1
      }
    }
  }
}

/** Keras's RMSprop: plain, with momentum, and centered; the same arithmetic as keras.optimizers.RMSprop. */
final class RmsProp(initialLearningRate: Float, rho: Double, momentum: Float, epsilon: Float, centered: Boolean, size: Int)
    extends UpdateRule {
  learningRate = initialLearningRate
  val name = "rmsprop"
  private val velocity = new Array[Float](size)
  private val moment = if (momentum > 0f) new Array[Float](size) else null
  private val average = if (centered) new Array[Float](size) else null
  override def slots: Seq[Array[Float]] = Seq(velocity) ++ Option(moment) ++ Option(average)

  def apply(w: Array[Float], g: Array[Float], scale: Float): Unit = {
    val r = rho.toFloat
    val oneMinusRho = (1.0 - rho).toFloat // as Keras: computed in Python, then a float32 constant
    val lr = learningRate // read once: it is volatile
    var i = 0
    while (i < w.length) {
      val gi = g(i) * scale
      val v = r * velocity(i) + oneMinusRho * (gi * gi)
      velocity(i) = v
      val denominator =
        if (average == null) v + epsilon
        else { val a = r * average(i) + oneMinusRho * gi; average(i) = a; v - a * a + epsilon }
      val increment = lr * gi / java.lang.Math.sqrt(denominator.toDouble).toFloat
      if (moment == null) w(i) -= increment
      else { val m = momentum * moment(i) + increment; moment(i) = m; w(i) -= m }
      i += 1
    }
  }
}

/** Keras's Adagrad, the same arithmetic as keras.optimizers.Adagrad. */
final class Adagrad(initialLearningRate: Float, initialAccumulator: Float, epsilon: Float, size: Int) extends UpdateRule {
  learningRate = initialLearningRate
  val name = "adagrad"
  private val accumulator = Array.fill(size)(initialAccumulator)
  override def slots: Seq[Array[Float]] = Seq(accumulator)

  def apply(w: Array[Float], g: Array[Float], scale: Float): Unit = {
    val lr = learningRate // read once: it is volatile
    var i = 0
    while (i < w.length) {
      val gi = g(i) * scale
      val a = accumulator(i) + gi * gi
      accumulator(i) = a
      w(i) -= lr * gi / java.lang.Math.sqrt((a + epsilon).toDouble).toFloat
      i += 1
    }
  }
}

object UpdateRule {
  val supported: Seq[String] = Seq("sgd", "adam", "rmsprop", "adagrad", "delta")

  def create(name: String, params: Map[String, Double], size: Int): UpdateRule = {
    def p(key: String, default: Double): Float = params.getOrElse(key, default).toFloat
    name.toLowerCase match {
      case "sgd" => new Sgd(p("learning_rate", 0.01), p("momentum", 0.0), params.getOrElse("nesterov", 0.0) != 0.0, size)
      case "adam" =>
        new Adam(p("learning_rate", 0.001), p("beta_1", 0.9), p("beta_2", 0.999), p("epsilon", 1e-7),
          params.getOrElse("amsgrad", 0.0) != 0.0, size)
      case "rmsprop" =>
        new RmsProp(p("learning_rate", 0.001), params.getOrElse("rho", 0.9), p("momentum", 0.0), p("epsilon", 1e-7),
          params.getOrElse("centered", 0.0) != 0.0, size)
      case "adagrad" => new Adagrad(p("learning_rate", 0.001), p("initial_accumulator_value", 0.1), p("epsilon", 1e-7), size)
      case "delta" => DeltaMerge
      case other =>
        throw new IllegalArgumentException(
          s"the parameter server has no update rule '$other'; supported: ${supported.mkString(", ")}")
    }
  }
}
