package sparkeras.state

import java.util.concurrent.LinkedBlockingDeque
import java.util.concurrent.atomic.AtomicInteger

import sparkeras.codec.FloatSink

/**
 * The job's staging arrays for large pushes and weight replies: at most `count` arrays of
 * `size` floats, made on first use and shared by every connection, so the server's memory
 * is the weights, the optimizer's slots and these, whatever the number of workers. A
 * connection waits for a free array; holders give it back as soon as the push is applied
 * or the reply written.
 */
final class StagingPool(val size: Int, val count: Int) extends FloatSink {
  require(count >= 1, s"a staging pool needs at least one array, got $count")
  private val free = new LinkedBlockingDeque[Array[Float]]()
  private val made = new AtomicInteger(0)

  def borrow(): Array[Float] = {
    val ready = free.pollFirst()
    if (ready != null) ready
    else if (made.getAndUpdate(n => if (n < count) n + 1 else n) < count) new Array[Float](size)
    else free.takeFirst()
  }

  def release(values: Array[Float]): Unit = {
    require(values.length == size, s"an array of ${values.length} floats returned to a pool of $size")
    free.addFirst(values) // the most recently used first: it is the likeliest to be in cache
  }

  /** Arrays made so far (at most `count`). */
  def arrays: Int = made.get()

  /** Runs `f` with a borrowed array, giving it back afterwards. */
  def using[T](f: Array[Float] => T): T = {
    val a = borrow()
    try f(a) finally release(a)
  }
}

object StagingPool {
  /**
   * Arrays a job's pool may hold: as many as `budgetBytes` allows, at least one, and no more
   * than one per connection that can use one at once (every worker, and the driver).
   */
  def arraysFor(parameters: Long, workers: Int, budgetBytes: Long): Int =
    math.max(1L, math.min(workers.toLong + 1, budgetBytes / math.max(1L, 4L * parameters))).toInt
}
