package sparkeras.state

/**
 * Keras's built-in learning-rate schedules, evaluated at the server optimizer's iteration
 * count as `optimizer.learning_rate` evaluates them at `optimizer.iterations`. The
 * arithmetic follows keras.optimizers.schedules in float32.
 */
sealed trait LearningRateSchedule {
  def at(step: Long): Float
}

object LearningRateSchedule {
  val supported: Seq[String] = Seq("ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay",
    "PolynomialDecay", "CosineDecay", "CosineDecayRestarts")

  /** Builds a schedule from its Keras class name, numeric config, and PiecewiseConstantDecay's lists. */
  def create(kind: String, params: Map[String, Double], boundaries: Seq[Double], values: Seq[Double]): LearningRateSchedule = {
    def p(key: String): Double = params.getOrElse(key,
      throw new IllegalArgumentException(s"the $kind schedule needs '$key'"))
    def opt(key: String, default: Double): Double = params.getOrElse(key, default)
    def flag(key: String): Boolean = opt(key, 0.0) != 0.0
    kind match {
      case "ExponentialDecay" =>
        ExponentialDecay(p("initial_learning_rate").toFloat, p("decay_steps").toFloat, p("decay_rate").toFloat, flag("staircase"))
      case "InverseTimeDecay" =>
        InverseTimeDecay(p("initial_learning_rate").toFloat, p("decay_steps").toFloat, p("decay_rate").toFloat, flag("staircase"))
      case "PiecewiseConstantDecay" =>
        require(boundaries.nonEmpty && values.size == boundaries.size + 1,
          s"PiecewiseConstantDecay needs one more value than boundaries; got ${boundaries.size} and ${values.size}")
        PiecewiseConstantDecay(boundaries.toArray, values.map(_.toFloat).toArray)
      case "PolynomialDecay" =>
        PolynomialDecay(p("initial_learning_rate").toFloat, p("decay_steps").toFloat, opt("end_learning_rate", 1e-4).toFloat,
          opt("power", 1.0).toFloat, flag("cycle"))
      case "CosineDecay" =>
        CosineDecay(p("initial_learning_rate").toFloat, p("decay_steps").toFloat, opt("alpha", 0.0).toFloat,
          params.get("warmup_target").map(_.toFloat), opt("warmup_steps", 0.0).toFloat)
      case "CosineDecayRestarts" =>
        CosineDecayRestarts(p("initial_learning_rate").toFloat, p("first_decay_steps").toFloat, opt("t_mul", 2.0).toFloat,
          opt("m_mul", 1.0).toFloat, opt("alpha", 0.0).toFloat)
      case other => throw new IllegalArgumentException(
        s"the parameter server has no learning-rate schedule '$other'; supported: ${supported.mkString(", ")}")
    }
  }

  private def pow(a: Float, b: Float): Float = math.pow(a.toDouble, b.toDouble).toFloat
  private val Pi = math.Pi.toFloat

  final case class ExponentialDecay(initial: Float, decaySteps: Float, rate: Float, staircase: Boolean)
      extends LearningRateSchedule {
    def at(step: Long): Float = {
      val p = step.toFloat / decaySteps
      initial * pow(rate, if (staircase) math.floor(p).toFloat else p)
    }
  }

  final case class InverseTimeDecay(initial: Float, decaySteps: Float, rate: Float, staircase: Boolean)
      extends LearningRateSchedule {
    def at(step: Long): Float = {
      val p = step.toFloat / decaySteps
      initial / (1f + rate * (if (staircase) math.floor(p).toFloat else p))
    }
  }

  /** values(0) up to and including boundaries(0), values(i) in (boundaries(i-1), boundaries(i)], the last after. */
  final case class PiecewiseConstantDecay(boundaries: Array[Double], values: Array[Float]) extends LearningRateSchedule {
    def at(step: Long): Float = {
      var i = 0
      while (i < boundaries.length && step > boundaries(i)) i += 1
      values(i)
    }
  }

  final case class PolynomialDecay(initial: Float, decaySteps: Float, end: Float, power: Float, cycle: Boolean)
      extends LearningRateSchedule {
    def at(step: Long): Float = {
      var s = step.toFloat
      var steps = decaySteps
      if (cycle) steps = steps * (if (step == 0) 1f else math.ceil(s / decaySteps).toFloat)
      else s = math.min(s, steps)
      (initial - end) * pow(1f - s / steps, power) + end
    }
  }

  final case class CosineDecay(initial: Float, decaySteps: Float, alpha: Float, warmupTarget: Option[Float],
                               warmupSteps: Float) extends LearningRateSchedule {
    private def decay(step: Float, from: Float): Float = {
      val cosine = 0.5f * (1f + math.cos((Pi * (step / decaySteps)).toDouble).toFloat)
      from * ((1f - alpha) * cosine + alpha)
    }
    def at(step: Long): Float = warmupTarget match {
      case None => decay(math.min(step.toFloat, decaySteps), initial)
      case Some(target) =>
        val s = math.min(step.toFloat, decaySteps + warmupSteps)
        if (s < warmupSteps) (target - initial) * (s / warmupSteps) + initial
        else decay(s - warmupSteps, target)
    }
  }

  final case class CosineDecayRestarts(initial: Float, firstDecaySteps: Float, tMul: Float, mMul: Float, alpha: Float)
      extends LearningRateSchedule {
    def at(step: Long): Float = {
      var fraction = step.toFloat / firstDecaySteps
      val restart =
        if (tMul == 1f) { val r = math.floor(fraction).toFloat; fraction -= r; r }
        else {
          val r = math.floor(math.log((1f - fraction * (1f - tMul)).toDouble) / math.log(tMul.toDouble)).toFloat
          val done = (1f - pow(tMul, r)) / (1f - tMul)
          fraction = (fraction - done) / pow(tMul, r)
          r
        }
      val cosine = 0.5f * pow(mMul, restart) * (1f + math.cos((Pi * fraction).toDouble).toFloat)
      initial * ((1f - alpha) * cosine + alpha)
    }
  }
}
