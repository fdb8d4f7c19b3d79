package sparkeras


import org.scalatest.funsuite.AnyFunSuite
import sparkeras.state._

class UpdateRuleSpec extends AnyFunSuite {

  test("plain SGD subtracts learning_rate times the gradient") {
    val w = Array(1f, 2f)
    UpdateRule.create("sgd", Map("learning_rate" -> 0.5), 2).apply(w, Array[Float](2f, -4f), 1f)
    assert(w.toSeq == Seq(0f, 4f))
  }

  test("SGD with momentum follows Keras: m = mu*m - lr*g; w += m") {
    val w = Array(0f)
    val rule = UpdateRule.create("sgd", Map("learning_rate" -> 0.1, "momentum" -> 0.9), 1)
    rule.apply(w, Array[Float](1f), 1f) // m = -0.1
    rule.apply(w, Array[Float](1f), 1f) // m = -0.09 - 0.1 = -0.19
    assert(math.abs(w(0) - (-0.29f)) < 1e-6)
  }

  test("Adam's first step moves every weight by about the learning rate against the gradient sign") {
    val w = Array(0f, 0f)
    UpdateRule.create("adam", Map("learning_rate" -> 0.01), 2).apply(w, Array[Float](3f, -0.5f), 1f)
    assert(math.abs(w(0) + 0.01f) < 1e-5 && math.abs(w(1) - 0.01f) < 1e-5)
  }

  test("Adam matches a double-precision reference over several steps") {
    val (lr, b1, b2, eps) = (0.001, 0.9, 0.999, 1e-7)
    val grads = Seq(0.3, -1.2, 0.7, 0.05, 2.0)
    var (m, v, ref) = (0.0, 0.0, 0.5)
    val w = Array(0.5f)
    val rule = UpdateRule.create("adam", Map("learning_rate" -> lr), 1)
    grads.zipWithIndex.foreach { case (g, i) =>
      val t = i + 1
      m += (g - m) * (1 - b1); v += (g * g - v) * (1 - b2)
      ref -= lr * math.sqrt(1 - math.pow(b2, t)) / (1 - math.pow(b1, t)) * m / (math.sqrt(v) + eps)
      rule.apply(w, Array[Float](g.toFloat), 1f)
    }
    assert(math.abs(w(0) - ref) < 1e-6)
  }

  test("delta merge adds the scaled delta") {
    val w = Array(1f, 1f)
    DeltaMerge.apply(w, Array[Float](2f, 4f), 0.5f)
    assert(w.toSeq == Seq(2f, 3f))
  }

  test("an unknown update rule names the supported ones") {
    val e = intercept[IllegalArgumentException](UpdateRule.create("adabelief", Map.empty, 1))
    assert(e.getMessage.contains("adabelief") && e.getMessage.contains("sgd, adam, adamax, nadam, rmsprop, adagrad"))
  }

  // Values printed by keras.optimizers.schedules (Keras 3.15) at steps 0, 1, 5, 6, 7, 14, 15, 16, 25, 40.
  private val steps = Seq(0L, 1L, 5L, 6L, 7L, 14L, 15L, 16L, 25L, 40L)
  private val kerasSchedules: Seq[(String, Map[String, Double], Seq[Double], Seq[Double], Seq[Double])] = Seq(
    ("ExponentialDecay", Map("initial_learning_rate" -> 0.1, "decay_steps" -> 10, "decay_rate" -> 0.5), Nil, Nil,
      Seq(0.1, 0.0933033, 0.0707107, 0.0659754, 0.0615572, 0.0378929, 0.0353553, 0.0329877, 0.0176777, 0.00625)),
    ("ExponentialDecay", Map("initial_learning_rate" -> 0.1, "decay_steps" -> 10, "decay_rate" -> 0.5, "staircase" -> 1), Nil, Nil,
      Seq(0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.00625)),
    ("InverseTimeDecay", Map("initial_learning_rate" -> 0.1, "decay_steps" -> 10, "decay_rate" -> 0.5), Nil, Nil,
      Seq(0.1, 0.0952381, 0.08, 0.0769231, 0.0740741, 0.0588235, 0.0571429, 0.0555556, 0.0444444, 0.0333333)),
    ("PiecewiseConstantDecay", Map.empty, Seq(5.0, 15.0), Seq(0.1, 0.05, 0.01),
      Seq(0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.01, 0.01, 0.01)),
    ("PolynomialDecay", Map("initial_learning_rate" -> 0.1, "decay_steps" -> 20, "end_learning_rate" -> 0.01, "power" -> 2), Nil, Nil,
      Seq(0.1, 0.091225, 0.060625, 0.0541, 0.048025, 0.0181, 0.015625, 0.0136, 0.01, 0.01)),
    ("PolynomialDecay", Map("initial_learning_rate" -> 0.1, "decay_steps" -> 20, "end_learning_rate" -> 0.01, "power" -> 2,
      "cycle" -> 1), Nil, Nil,
      Seq(0.1, 0.091225, 0.060625, 0.0541, 0.048025, 0.0181, 0.015625, 0.0136, 0.0226563, 0.01)),
    ("CosineDecay", Map("initial_learning_rate" -> 0.1, "decay_steps" -> 20, "alpha" -> 0.1), Nil, Nil,
      Seq(0.1, 0.099446, 0.0868198, 0.0814503, 0.0754296, 0.0285497, 0.0231802, 0.0185942, 0.01, 0.01)),
    ("CosineDecay", Map("initial_learning_rate" -> 0.0, "decay_steps" -> 20, "warmup_target" -> 0.1, "warmup_steps" -> 5), Nil, Nil,
      Seq(0.0, 0.02, 0.1, 0.0993844, 0.0975528, 0.0578217, 0.05, 0.0421783, 0.0, 0.0)),
    ("CosineDecayRestarts", Map("initial_learning_rate" -> 0.1, "first_decay_steps" -> 6, "t_mul" -> 2, "m_mul" -> 0.5,
      "alpha" -> 0.1), Nil, Nil,
      Seq(0.1, 0.0939711, 0.0160289, 0.055, 0.0542333, 0.02125, 0.0165901, 0.0130144, 0.0280986, 0.0103833)),
    ("CosineDecayRestarts", Map("initial_learning_rate" -> 0.1, "first_decay_steps" -> 6, "t_mul" -> 1), Nil, Nil,
      Seq(0.1, 0.0933013, 0.0066987, 0.1, 0.0933013, 0.075, 0.05, 0.025, 0.0933013, 0.025)))

  test("every built-in learning-rate schedule gives Keras's values at Keras's steps") {
    kerasSchedules.foreach { case (kind, params, boundaries, values, expected) =>
      val schedule = LearningRateSchedule.create(kind, params, boundaries, values)
      steps.zip(expected).foreach { case (step, want) =>
        assert(math.abs(schedule.at(step) - want) < 1e-6, s"$kind $params at step $step: ${schedule.at(step)} != $want")
      }
    }
  }

  test("the server's step count drives the schedule, and a scheduled rate cannot be set") {
    val schedule = LearningRateSchedule.create("PiecewiseConstantDecay", Map.empty, Seq(1.0), Seq(0.5, 0.25))
    val rule = UpdateRule.create("sgd", Map.empty, Variable.layout(Seq(Array(1))), Some(schedule), Set.empty)
    val w = Array(0f)
    (1 to 3).foreach(_ => rule.apply(w, Array(1f), 1f)) // steps 0 and 1 at 0.5, step 2 at 0.25
    assert(w(0) == -1.25f && rule.iterations == 3 && rule.currentLearningRate == 0.25f)
    val e = intercept[IllegalArgumentException](rule.setLearningRate(0.1f))
    assert(e.getMessage.contains("schedule"))
  }

  private def twoVariables(name: String, params: Map[String, Double]) =
    UpdateRule.create(name, params ++ Map("learning_rate" -> 1.0), Variable.layout(Seq(Array(2), Array(1))), None, Set(1))

  test("clipnorm clips each variable's gradient to the norm; global_clipnorm all of them together; clipvalue each value") {
    val w = Array(0f, 0f, 0f)
    twoVariables("sgd", Map("clipnorm" -> 1.0)).apply(w, Array(3f, 4f, 0.5f), 1f)
    assert(w.toSeq == Seq(-0.6f, -0.8f, -0.5f))
    val g = Array(0f, 0f, 0f)
    twoVariables("sgd", Map("global_clipnorm" -> 2.5)).apply(g, Array(3f, 4f, 0f), 2f) // norm 10 after the scale
    assert(g.zip(Seq(-1.5f, -2f, 0f)).forall { case (a, b) => math.abs(a - b) < 1e-6 })
    val v = Array(0f, 0f, 0f)
    twoVariables("sgd", Map("clipvalue" -> 0.5)).apply(v, Array(3f, -0.25f, -4f), 1f)
    assert(v.toSeq == Seq(-0.5f, 0.25f, 0.5f))
  }

  test("weight decay shrinks the weights by lr * weight_decay before the step, except excluded variables") {
    val w = Array(1f, 2f, 4f)
    twoVariables("sgd", Map("weight_decay" -> 0.1)).apply(w, Array(0f, 0f, 0f), 1f)
    assert(w.toSeq == Seq(0.9f, 1.8f, 4f))
  }

  test("use_ema keeps a moving average, overwrites the weights every ema_overwrite_frequency steps, and at the end") {
    val rule = UpdateRule.create("sgd", Map("learning_rate" -> 1.0, "use_ema" -> 1, "ema_momentum" -> 0.5), 1)
    val w = Array(0f)
    rule.apply(w, Array(-1f), 1f) // w 1, average 1 (the first step copies)
    rule.apply(w, Array(-1f), 1f) // w 2, average 1.5
    assert(w(0) == 2f && rule.slots.last(0) == 1.5f)
    rule.finish(w)
    assert(w(0) == 1.5f)
    val every = UpdateRule.create("sgd", Map("learning_rate" -> 1.0, "use_ema" -> 1, "ema_momentum" -> 0.5,
      "ema_overwrite_frequency" -> 2), 1)
    val x = Array(0f)
    every.apply(x, Array(-1f), 1f)
    every.apply(x, Array(-1f), 1f)
    assert(x(0) == 1.5f)
  }

  test("Adafactor factors the second moment of a matrix into row and column means") {
    val rule = UpdateRule.create("adafactor", Map("learning_rate" -> 0.5), Variable.layout(Seq(Array(2, 3))), None, Set.empty)
    val w = Array(1f, 1f, 1f, 1f, 1f, 1f)
    rule.apply(w, Array(1f, 2f, 3f, 4f, 5f, 6f), 1f)
    val Seq(r, c, v) = rule.slots
    assert(r.length == 2 && c.length == 3 && v.length == 6)
    // After one step (beta = 0): r = row means of g^2, c = column means, v = r / mean(r) * c.
    assert(math.abs(r(0) - 14f / 3) < 1e-4 && math.abs(c(2) - 22.5f) < 1e-4)
    assert(math.abs(v(5) - (r(1) / ((r(0) + r(1)) / 2)) * c(2)) < 1e-3)
  }

  test("every rule's state survives a checkpoint: restored, it continues exactly as the original") {
    val layout = Variable.layout(Seq(Array(2, 3), Array(3)))
    val rnd = new scala.util.Random(3)
    val grads = Seq.fill(6)(Array.fill(9)(rnd.nextGaussian().toFloat))
    UpdateRule.supported.filterNot(_ == "delta").foreach { name =>
      val params = Map("learning_rate" -> 0.01, "use_ema" -> 1.0, "weight_decay" -> 0.1)
      val original = UpdateRule.create(name, params, layout, None, Set.empty)
      val w = Array.fill(9)(0.5f)
      grads.take(3).foreach(g => original.apply(w, g, 1f))
      val copy = UpdateRule.create(name, params, layout, None, Set.empty)
      copy.restore(original.slots.map(_.clone()), original.iterations)
      val w2 = w.clone()
      grads.drop(3).foreach { g => original.apply(w, g, 1f); copy.apply(w2, g, 1f) }
      assert(w.toSeq == w2.toSeq, s"$name diverged after a restore")
    }
  }
}
