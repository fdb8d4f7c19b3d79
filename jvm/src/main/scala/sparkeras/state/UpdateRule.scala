package sparkeras.state

/**
 * How a contribution changes the master weights, in place. Rules that keep state
 * (momentum, Adam's moments) own it; callers serialize calls except in hogwild mode.
 */
trait UpdateRule {
  def name: String
  def apply(weights: Array[Float], contribution: Array[Float], scale: Float): Unit

  /**
   * Applies a worker's push knowing how stale it is: `staleness` updates were applied since the
   * worker's last pull, whose weights were `pulled` (kept only for rules with `needsPulled`).
   * Called under the store's lock (except in hogwild mode); most rules ignore both.
   */
  def applyPush(weights: Array[Float], contribution: Array[Float], scale: Float, staleness: Long,
                pulled: Array[Float]): Unit = apply(weights, contribution, scale)
  /** Whether the server must keep a copy of the weights each worker last pulled. */
  def needsPulled: Boolean = false

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

  /** At the end of training, before the driver takes the weights (Keras's `finalize_variable_values`). */
  def finish(weights: Array[Float]): Unit = ()

  /** The learning rate now; a driver-side callback (ReduceLROnPlateau, LearningRateScheduler) may change it. */
  @volatile var learningRate: Float = Float.NaN
  /** The rate the next update uses: `learningRate`, or a schedule's value at the current step. */
  def currentLearningRate: Float = learningRate
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

/** DynSGD: a change computed on weights `staleness` updates old is scaled by 1 / (staleness + 1). */
object DynSgdMerge extends UpdateRule {
  val name = "dynsgd"
  def apply(w: Array[Float], d: Array[Float], scale: Float): Unit = DeltaMerge.apply(w, d, scale)
  override def applyPush(w: Array[Float], d: Array[Float], scale: Float, staleness: Long, pulled: Array[Float]): Unit =
    DeltaMerge.apply(w, d, scale / (staleness + 1).toFloat)
}

/**
 * ADAG (the thesis's staleness-aware scaling): each element of a change is scaled by
 * 1 / ((w - w_pulled)^2 / gamma + 1), where w_pulled is what the pushing worker last pulled,
 * so that parameters that moved since then (the change is stale there) move less.
 */
final class AdagMerge(val gamma: Float) extends UpdateRule {
  require(gamma > 0 && !gamma.isInfinite, s"ADAG's gamma must be positive and finite, got $gamma")
  val name = "adag"
  private val inverseGamma = 1f / gamma
  def apply(w: Array[Float], d: Array[Float], scale: Float): Unit = DeltaMerge.apply(w, d, scale)
  override def needsPulled: Boolean = true
  override def applyPush(w: Array[Float], d: Array[Float], scale: Float, staleness: Long, pulled: Array[Float]): Unit = {
    if (pulled == null) { apply(w, d, scale); return }
    var i = 0
    while (i < w.length) {
      val moved = w(i) - pulled(i)
      w(i) += scale * d(i) / (inverseGamma * moved * moved + 1f)
      i += 1
    }
  }
}

/** How the server merges the DELTA pushes of each distributed algorithm (JobConfig.algorithm). */
object AlgorithmMerge {
  val algorithms: Seq[String] = Seq("", "downpour", "agn", "adag", "dynsgd", "aeasgd", "eamsgd", "averaging", "ensemble")

  def requireKnown(name: String): Unit = require(algorithms.contains(name),
    s"the parameter server has no algorithm '$name'; supported: ${algorithms.filter(_.nonEmpty).mkString(", ")}")

  def create(name: String, params: Map[String, Double]): UpdateRule = name match {
    case "dynsgd" => DynSgdMerge
    case "adag" => new AdagMerge(params.getOrElse("gamma", 1e-4).toFloat)
    case _ => DeltaMerge
  }
}

object UpdateRule {
  val supported: Seq[String] =
    Seq("sgd", "adam", "adamax", "nadam", "rmsprop", "adagrad", "adadelta", "adafactor", "ftrl", "lion", "lamb", "delta")

  def requireKnown(name: String): Unit = require(supported.contains(name.toLowerCase),
    s"the parameter server has no update rule '$name'; supported: ${supported.mkString(", ")}")

  /** A rule over one flat variable of `size` values, without schedule (tests, and rules that ignore layout). */
  def create(name: String, params: Map[String, Double], size: Int): UpdateRule =
    create(name, params, Variable.layout(Seq(Array(size))), None, Set.empty)

  /**
   * The rule `name` with Keras's hyper-parameters `params` (missing ones take Keras's defaults),
   * over `variables`, with an optional learning-rate schedule and the variables excluded from weight decay.
   */
  def create(name: String, params: Map[String, Double], variables: IndexedSeq[Variable],
             schedule: Option[LearningRateSchedule], noDecay: Set[Int]): UpdateRule = {
    requireKnown(name)
    def p(key: String, default: Double): Float = params.getOrElse(key, default).toFloat
    def flag(key: String): Boolean = params.getOrElse(key, 0.0) != 0.0
    val o = OptimizerOptions.from(params, noDecay)
    val lr = p("learning_rate", 0.001)
    name.toLowerCase match {
      case "sgd" => new Sgd(p("learning_rate", 0.01), p("momentum", 0), flag("nesterov"), schedule, o, variables)
      case "adam" => new Adam(lr, p("beta_1", 0.9), p("beta_2", 0.999), p("epsilon", 1e-7), flag("amsgrad"), schedule, o, variables)
      case "adamax" => new Adamax(lr, p("beta_1", 0.9), p("beta_2", 0.999), p("epsilon", 1e-7), schedule, o, variables)
      case "nadam" => new Nadam(lr, p("beta_1", 0.9), p("beta_2", 0.999), p("epsilon", 1e-7), schedule, o, variables)
      case "rmsprop" =>
        new RmsProp(lr, params.getOrElse("rho", 0.9), p("momentum", 0), p("epsilon", 1e-7), flag("centered"), schedule, o, variables)
      case "adagrad" => new Adagrad(lr, p("initial_accumulator_value", 0.1), p("epsilon", 1e-7), schedule, o, variables)
      case "adadelta" => new Adadelta(lr, params.getOrElse("rho", 0.95), p("epsilon", 1e-7), schedule, o, variables)
      case "adafactor" =>
        new Adafactor(lr, p("beta_2_decay", -0.8), p("epsilon_1", 1e-30), p("epsilon_2", 1e-3), p("clip_threshold", 1.0),
          schedule, o, variables)
      case "ftrl" =>
        new Ftrl(lr, params.getOrElse("learning_rate_power", -0.5), p("initial_accumulator_value", 0.1),
          p("l1_regularization_strength", 0), p("l2_regularization_strength", 0),
          p("l2_shrinkage_regularization_strength", 0), p("beta", 0), schedule, o, variables)
      case "lion" => new Lion(p("learning_rate", 0.001), p("beta_1", 0.9), p("beta_2", 0.99), schedule, o, variables)
      case "lamb" => new Lamb(lr, p("beta_1", 0.9), p("beta_2", 0.999), p("epsilon", 1e-7), schedule, o, variables)
      case "delta" => DeltaMerge
    }
  }

  /** Float slots per parameter a rule keeps (for the driver-heap estimate; the moving average adds one). */
  def slotsPerParameter(name: String, params: Map[String, Double]): Int = {
    def flag(key: String): Int = if (params.getOrElse(key, 0.0) != 0.0) 1 else 0
    val own = name.toLowerCase match {
      case "adam" => 2 + flag("amsgrad")
      case "sgd" => flag("momentum")
      case "rmsprop" => 1 + flag("momentum") + flag("centered")
      case "adagrad" | "lion" => 1
      case "adafactor" => 1 // the full second moment; the factored row and column means are small
      case "adamax" | "nadam" | "adadelta" | "ftrl" | "lamb" => 2
      case _ => 0
    }
    own + flag("use_ema")
  }
}
