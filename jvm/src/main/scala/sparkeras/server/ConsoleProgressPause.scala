package sparkeras.server

import org.apache.spark.SparkContext

/**
 * Takes Spark's console progress bar (`[Stage 3:====>  (1 + 1) / 2]`) away while a fit shows
 * Keras's own progress bar, and gives the context a fresh one afterwards: both draw on the
 * terminal's current line, so together they garble it. Spark keeps the bar in a private
 * field of a class private to Spark, hence reflection; if a Spark version lays them out
 * differently, nothing is paused.
 */
object ConsoleProgressPause {
  private val noop: AutoCloseable = () => ()

  /** Stops the context's bar, if it has one; closing the result starts a new one. */
  def pause(sc: SparkContext): AutoCloseable =
    try {
      val field = classOf[SparkContext].getDeclaredField("_progressBar")
      field.setAccessible(true)
      field.get(sc) match {
        case Some(bar: AnyRef) =>
          bar.getClass.getMethod("stop").invoke(bar)
          field.set(sc, None)
          val constructor = bar.getClass.getConstructor(classOf[SparkContext])
          () => if (!sc.isStopped) field.set(sc, Some(constructor.newInstance(sc)))
        case _ => noop
      }
    } catch { case _: ReflectiveOperationException | _: RuntimeException => noop }
}
