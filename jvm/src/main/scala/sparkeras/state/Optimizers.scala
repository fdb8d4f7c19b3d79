package sparkeras.state

/*
 * Keras's built-in optimizers, one `update_step` each, in float32 with Keras's order of
 * operations (the modules of keras/src/optimizers). Elementwise loops are plain so the JIT can
 * vectorize them; `scale` folds the synchronous average and norm clipping into the gradient.
 */

private object Pow {
  def apply(a: Double, b: Double): Float = math.pow(a, b).toFloat
  def sqrt(x: Float): Float = java.lang.Math.sqrt(x.toDouble).toFloat
}

/** SGD: plain, with momentum, or Nesterov momentum. */
final class Sgd(lr0: Float, momentum: Float, nesterov: Boolean, schedule: Option[LearningRateSchedule],
                o: OptimizerOptions, vs: IndexedSeq[Variable]) extends KerasOptimizer("sgd", lr0, schedule, o, vs) {
  private val velocity = if (momentum != 0f) new Array[Float](size) else null
  protected def ownSlots: Seq[Array[Float]] = Option(velocity).toSeq

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, v: Variable): Unit = {
    var i = v.offset
    if (velocity == null) {
      while (i < v.until) { w(i) -= g(i) * scale * lr; i += 1 }
    } else if (!nesterov) {
      while (i < v.until) { val m = momentum * velocity(i) - g(i) * scale * lr; velocity(i) = m; w(i) += m; i += 1 }
    } else {
      while (i < v.until) {
        val step = g(i) * scale * lr
        val m = momentum * velocity(i) - step
        velocity(i) = m; w(i) += momentum * m - step; i += 1
      }
    }
  }
}

/** Adam (optionally AMSGrad); AdamW is Adam with weight decay, which the base class applies. */
final class Adam(lr0: Float, beta1: Float, beta2: Float, epsilon: Float, amsgrad: Boolean,
                 schedule: Option[LearningRateSchedule], o: OptimizerOptions, vs: IndexedSeq[Variable])
    extends KerasOptimizer("adam", lr0, schedule, o, vs) {
  private val m = new Array[Float](size)
  private val v = new Array[Float](size)
  private val vMax = if (amsgrad) new Array[Float](size) else null
  protected def ownSlots: Seq[Array[Float]] = Seq(m, v) ++ Option(vMax)
  private var alpha = 0f

  override protected def beginStep(lr: Float): Unit = {
    val t = (step + 1).toDouble
    alpha = (lr * math.sqrt(1 - math.pow(beta2, t)) / (1 - math.pow(beta1, t))).toFloat
  }

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, x: Variable): Unit = {
    val oneMinusB1 = 1f - beta1
    val oneMinusB2 = 1f - beta2
    var i = x.offset
    while (i < x.until) {
      val gi = g(i) * scale
      val mi = m(i) + (gi - m(i)) * oneMinusB1
      val vi = v(i) + (gi * gi - v(i)) * oneMinusB2
      m(i) = mi
      v(i) = vi
      val denominator = if (vMax == null) vi else { val vh = math.max(vMax(i), vi); vMax(i) = vh; vh }
      w(i) -= alpha * mi / (Pow.sqrt(denominator) + epsilon)
      i += 1
    }
  }
}

/** Adamax: Adam with the infinity norm. */
final class Adamax(lr0: Float, beta1: Float, beta2: Float, epsilon: Float, schedule: Option[LearningRateSchedule],
                   o: OptimizerOptions, vs: IndexedSeq[Variable]) extends KerasOptimizer("adamax", lr0, schedule, o, vs) {
  private val m = new Array[Float](size)
  private val u = new Array[Float](size)
  protected def ownSlots: Seq[Array[Float]] = Seq(m, u)

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, v: Variable): Unit = {
    val correction = 1f - Pow(beta1, (step + 1).toDouble)
    val oneMinusB1 = (1.0 - beta1).toFloat
    var i = v.offset
    while (i < v.until) {
      val gi = g(i) * scale
      m(i) += (gi - m(i)) * oneMinusB1
      u(i) = math.max(beta2 * u(i), math.abs(gi))
      w(i) -= lr * m(i) / (correction * (u(i) + epsilon))
      i += 1
    }
  }
}

/** Nadam: Adam with Nesterov momentum and Keras's momentum schedule (0.96 decay), kept as a running product. */
final class Nadam(lr0: Float, beta1: Float, beta2: Float, epsilon: Float, schedule: Option[LearningRateSchedule],
                  o: OptimizerOptions, vs: IndexedSeq[Variable]) extends KerasOptimizer("nadam", lr0, schedule, o, vs) {
  private val m = new Array[Float](size)
  private val v = new Array[Float](size)
  private val uProduct = Array(1f) // a slot, so that checkpoints keep it
  protected def ownSlots: Seq[Array[Float]] = Seq(m, v, uProduct)
  private var uT, uT1, productT, productT1, beta2Power = 0f

  override protected def beginStep(lr: Float): Unit = {
    val t = (step + 1).toDouble
    uProduct(0) = uProduct(0) * beta1 * (1f - 0.5f * Pow(0.96, t))
    uT = beta1 * (1f - 0.5f * Pow(0.96, t))
    uT1 = beta1 * (1f - 0.5f * Pow(0.96, t + 1))
    productT = uProduct(0)
    productT1 = productT * uT1
    beta2Power = Pow(beta2, t)
  }

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, x: Variable): Unit = {
    val oneMinusB1 = 1f - beta1
    val oneMinusB2 = 1f - beta2
    var i = x.offset
    while (i < x.until) {
      val gi = g(i) * scale
      m(i) += (gi - m(i)) * oneMinusB1
      v(i) += (gi * gi - v(i)) * oneMinusB2
      val mHat = uT1 * m(i) / (1f - productT1) + (1f - uT) * gi / (1f - productT)
      val vHat = v(i) / (1f - beta2Power)
      w(i) -= mHat * lr / (Pow.sqrt(vHat) + epsilon)
      i += 1
    }
  }
}

/** RMSprop: plain, with momentum, and centered. */
final class RmsProp(lr0: Float, rho: Double, momentum: Float, epsilon: Float, centered: Boolean,
                    schedule: Option[LearningRateSchedule], o: OptimizerOptions, vs: IndexedSeq[Variable])
    extends KerasOptimizer("rmsprop", lr0, schedule, o, vs) {
  private val velocity = new Array[Float](size)
  private val moment = if (momentum > 0f) new Array[Float](size) else null
  private val average = if (centered) new Array[Float](size) else null
  protected def ownSlots: Seq[Array[Float]] = Seq(velocity) ++ Option(moment) ++ Option(average)

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, x: Variable): Unit = {
    val r = rho.toFloat
    val oneMinusRho = (1.0 - rho).toFloat // as Keras: computed in Python, then a float32 constant
    var i = x.offset
    while (i < x.until) {
      val gi = g(i) * scale
      val v = r * velocity(i) + oneMinusRho * (gi * gi)
      velocity(i) = v
      val denominator =
        if (average == null) v + epsilon
        else { val a = r * average(i) + oneMinusRho * gi; average(i) = a; v - a * a + epsilon }
      val increment = lr * gi / Pow.sqrt(denominator)
      if (moment == null) w(i) -= increment
      else { val mi = momentum * moment(i) + increment; moment(i) = mi; w(i) -= mi }
      i += 1
    }
  }
}

/** Adagrad. */
final class Adagrad(lr0: Float, initialAccumulator: Float, epsilon: Float, schedule: Option[LearningRateSchedule],
                    o: OptimizerOptions, vs: IndexedSeq[Variable]) extends KerasOptimizer("adagrad", lr0, schedule, o, vs) {
  private val accumulator = Array.fill(size)(initialAccumulator)
  protected def ownSlots: Seq[Array[Float]] = Seq(accumulator)

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, v: Variable): Unit = {
    var i = v.offset
    while (i < v.until) {
      val gi = g(i) * scale
      val a = accumulator(i) + gi * gi
      accumulator(i) = a
      w(i) -= lr * gi / Pow.sqrt(a + epsilon)
      i += 1
    }
  }
}

/** Adadelta. */
final class Adadelta(lr0: Float, rho: Double, epsilon: Float, schedule: Option[LearningRateSchedule],
                     o: OptimizerOptions, vs: IndexedSeq[Variable]) extends KerasOptimizer("adadelta", lr0, schedule, o, vs) {
  private val gradients = new Array[Float](size)
  private val deltas = new Array[Float](size)
  protected def ownSlots: Seq[Array[Float]] = Seq(gradients, deltas)

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, v: Variable): Unit = {
    val r = rho.toFloat
    val oneMinusRho = (1.0 - rho).toFloat
    var i = v.offset
    while (i < v.until) {
      val gi = g(i) * scale
      val a = r * gradients(i) + oneMinusRho * (gi * gi)
      gradients(i) = a
      val delta = -(Pow.sqrt(deltas(i) + epsilon) * gi / Pow.sqrt(a + epsilon))
      deltas(i) = r * deltas(i) + oneMinusRho * (delta * delta)
      w(i) += lr * delta
      i += 1
    }
  }
}

/** FTRL-proximal, with L1, L2 and L2-shrinkage regularization and `beta`. */
final class Ftrl(lr0: Float, lrPower: Double, initialAccumulator: Float, l1: Float, l2: Float, l2Shrinkage: Float,
                 beta: Float, schedule: Option[LearningRateSchedule], o: OptimizerOptions, vs: IndexedSeq[Variable])
    extends KerasOptimizer("ftrl", lr0, schedule, o, vs) {
  private val accumulators = Array.fill(size)(initialAccumulator)
  private val linears = new Array[Float](size)
  protected def ownSlots: Seq[Array[Float]] = Seq(accumulators, linears)

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, v: Variable): Unit = {
    val l2Total = l2 + beta / (2f * lr)
    val shrink = (2.0 * l2Shrinkage).toFloat
    val power = -lrPower
    var i = v.offset
    while (i < v.until) {
      val gi = g(i) * scale
      val gradToUse = gi + shrink * w(i)
      val accum = accumulators(i)
      val newAccum = accum + gi * gi
      val newPow = Pow(newAccum.toDouble, power)
      linears(i) += gradToUse - (newPow - Pow(accum.toDouble, power)) / lr * w(i)
      val quadratic = newPow / lr + 2f * l2Total
      val clipped = math.max(-l1, math.min(l1, linears(i)))
      w(i) = (clipped - linears(i)) / quadratic
      accumulators(i) = newAccum
      i += 1
    }
  }
}

/** Lion: the sign of an interpolated momentum. */
final class Lion(lr0: Float, beta1: Float, beta2: Float, schedule: Option[LearningRateSchedule],
                 o: OptimizerOptions, vs: IndexedSeq[Variable]) extends KerasOptimizer("lion", lr0, schedule, o, vs) {
  private val m = new Array[Float](size)
  protected def ownSlots: Seq[Array[Float]] = Seq(m)

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, v: Variable): Unit = {
    var i = v.offset
    while (i < v.until) {
      val gi = g(i) * scale
      w(i) -= lr * math.signum(m(i) * beta1 + gi * (1f - beta1))
      m(i) = m(i) * beta2 + gi * (1f - beta2)
      i += 1
    }
  }
}

/** LAMB: Adam's direction scaled per variable by the trust ratio ||w|| / ||update||. */
final class Lamb(lr0: Float, beta1: Float, beta2: Float, epsilon: Float, schedule: Option[LearningRateSchedule],
                 o: OptimizerOptions, vs: IndexedSeq[Variable]) extends KerasOptimizer("lamb", lr0, schedule, o, vs) {
  private val m = new Array[Float](size)
  private val v = new Array[Float](size)
  protected def ownSlots: Seq[Array[Float]] = Seq(m, v)

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, x: Variable): Unit = {
    val t = (step + 1).toDouble
    val c1 = 1f - Pow(beta1, t)
    val c2 = 1f - Pow(beta2, t)
    val oneMinusB1 = (1.0 - beta1).toFloat
    val oneMinusB2 = (1.0 - beta2).toFloat
    var wNorm, uNorm = 0.0
    var i = x.offset
    while (i < x.until) {
      val gi = g(i) * scale
      m(i) += (gi - m(i)) * oneMinusB1
      v(i) += (gi * gi - v(i)) * oneMinusB2
      val u = (m(i) / c1) / (Pow.sqrt(v(i) / c2) + epsilon)
      wNorm += w(i) * w(i); uNorm += u * u
      i += 1
    }
    val ratio = if (wNorm > 0 && uNorm > 0) (math.sqrt(wNorm) / math.sqrt(uNorm)).toFloat else 1f
    i = x.offset
    while (i < x.until) {
      val u = (m(i) / c1) / (Pow.sqrt(v(i) / c2) + epsilon)
      w(i) -= ratio * lr * u
      i += 1
    }
  }
}

/**
 * Adafactor: second moments factored into row and column means for variables of rank 2 and
 * more (over the last two axes), full for the others; the step size relative to the weights' RMS.
 */
final class Adafactor(lr0: Float, beta2Decay: Float, epsilon1: Float, epsilon2: Float, clipThreshold: Float,
                      schedule: Option[LearningRateSchedule], o: OptimizerOptions, vs: IndexedSeq[Variable])
    extends KerasOptimizer("adafactor", lr0, schedule, o, vs) {
  // Rows (all axes but the last) and columns (all but the second-to-last) of each factored variable.
  private def factored(x: Variable) = x.shape.length >= 2
  private def cols(x: Variable) = x.shape.last
  private def rowsOf(x: Variable) = x.size / cols(x)
  private val rowOffsets = vs.scanLeft(0)((o, x) => o + (if (factored(x)) rowsOf(x) else 0))
  private val colOffsets = vs.scanLeft(0)((o, x) => o + (if (factored(x)) x.size / x.shape(x.shape.length - 2) else 0))
  private val r = new Array[Float](rowOffsets.last)
  private val c = new Array[Float](colOffsets.last)
  private val v = new Array[Float](size)
  protected def ownSlots: Seq[Array[Float]] = Seq(r, c, v)

  protected def update(w: Array[Float], g: Array[Float], scale: Float, lr: Float, k: Int, x: Variable): Unit = {
    val t = (step + 1).toFloat
    val rho = math.min(lr, 1f / Pow.sqrt(t))
    val alpha = math.max(epsilon2, rms(w, x.offset, x.until, 1f)) * rho
    val beta = 1f - Pow(t.toDouble, beta2Decay.toDouble)
    if (factored(x)) factoredMoments(g, scale, beta, k, x)
    else {
      var i = x.offset
      while (i < x.until) { val gi = g(i) * scale; v(i) = beta * v(i) + (1f - beta) * (gi * gi + epsilon1); i += 1 }
    }
    // u = g / sqrt(v), clipped by its RMS
    var sum = 0.0
    var i = x.offset
    while (i < x.until) { val u = g(i) * scale / Pow.sqrt(v(i)); sum += u * u; i += 1 }
    val divisor = math.max(1f, math.sqrt(sum / x.size).toFloat / clipThreshold)
    i = x.offset
    while (i < x.until) { w(i) -= alpha * (g(i) * scale / Pow.sqrt(v(i)) / divisor); i += 1 }
  }

  private def factoredMoments(g: Array[Float], scale: Float, beta: Float, k: Int, x: Variable): Unit = {
    val nCols = cols(x)
    val nRows = x.shape(x.shape.length - 2)
    val blocks = x.size / (nRows * nCols)
    val rowMean = new Array[Double](nRows)
    val colMean = new Array[Double](nCols)
    var b = 0
    while (b < blocks) {
      java.util.Arrays.fill(rowMean, 0.0)
      java.util.Arrays.fill(colMean, 0.0)
      val base = x.offset + b * nRows * nCols
      var i = 0
      while (i < nRows) {
        var j = 0
        while (j < nCols) {
          val gi = g(base + i * nCols + j) * scale
          val sq = gi * gi + epsilon1
          rowMean(i) += sq; colMean(j) += sq
          j += 1
        }
        i += 1
      }
      val rBase = rowOffsets(k) + b * nRows
      val cBase = colOffsets(k) + b * nCols
      var rSum = 0.0
      i = 0
      while (i < nRows) { r(rBase + i) = beta * r(rBase + i) + (1f - beta) * (rowMean(i) / nCols).toFloat; rSum += r(rBase + i); i += 1 }
      var j = 0
      while (j < nCols) { c(cBase + j) = beta * c(cBase + j) + (1f - beta) * (colMean(j) / nRows).toFloat; j += 1 }
      val rAverage = (rSum / nRows).toFloat
      i = 0
      while (i < nRows) {
        val rowFactor = r(rBase + i) / rAverage
        j = 0
        while (j < nCols) { v(base + i * nCols + j) = rowFactor * c(cBase + j); j += 1 }
        i += 1
      }
      b += 1
    }
  }

  private def rms(a: Array[Float], from: Int, until: Int, scale: Float): Float = {
    var s = 0.0
    var i = from
    while (i < until) { val x = a(i) * scale; s += x * x; i += 1 }
    math.sqrt(s / (until - from)).toFloat
  }
}
