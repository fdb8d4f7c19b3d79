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
    val e = intercept[IllegalArgumentException](UpdateRule.create("lion", Map.empty, 1))
    assert(e.getMessage.contains("lion") && e.getMessage.contains("sgd, adam, rmsprop, adagrad, delta"))
  }
}
