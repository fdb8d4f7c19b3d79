package sparkeras

import sparkeras.server._

/** Prints how long the update rules and weight copies take over the benchmark model's 118k parameters. */
object RuleTiming {
  private def time(name: String, reps: Int = 5000)(body: => Unit): Unit = {
    for (_ <- 0 until 20000) body
    val t = System.nanoTime()
    for (_ <- 0 until reps) body
    println(f"$name%-14s ${(System.nanoTime() - t) / reps / 1000.0}%.1f us")
  }

  def main(args: Array[String]): Unit = {
    val n = 118282
    val w = Array.fill(n)(0.01f); val g = Array.fill(n)(0.001f)
    for (name <- Seq("adam", "sgd", "delta")) {
      val rule = UpdateRule.create(name, Map("learning_rate" -> 1e-3, "momentum" -> 0.9), n)
      time(name)(rule.apply(w, g, 1f))
    }
    val bytes = new Array[Byte](n * 4)
    time("floats->bytes")(Tensors.copyToBytes(w, bytes))
    time("bytes->floats")(Tensors.copyToFloats(bytes, 0, g))
  }
}
