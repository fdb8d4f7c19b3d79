package sparkeras.state

/**
 * Synchronous rounds: every live worker contributes once, the mean is applied to
 * the store once, and all contributors are released together with the same
 * weights. A worker that finishes no longer holds a round up.
 *
 * Rounds belong to a generation: one attempt of the barrier stage. A worker lost
 * mid-training abandons its generation (the partial round is dropped, waiters are
 * released with a SupersededException, and Spark retries the stage); the retried
 * stage restarts from the last completed round with every worker live again.
 */
final class SyncAggregator(store: ParameterStore, workers: Int, onRound: Long => Unit = _ => ()) {
  private val sum = new Array[Float](store.size)
  private var contributions = 0
  private var roundSamples = 0L
  private var live = workers
  private var round = 0L
  private var generation = 0L
  private var abandoned: String = null
  private var failure: String = null
  private var pendingRule: UpdateRule = DeltaMerge

  /** Adds a contribution and blocks until its round has been applied; `added` runs once `values` is summed. */
  def contribute(values: Array[Float], rule: UpdateRule, samples: Long, gen: Long, added: () => Unit = () => ()): Unit = synchronized {
    check(gen)
    val myRound = round
    pendingRule = rule
    var i = 0
    while (i < sum.length) { sum(i) += values(i); i += 1 }
    added()
    contributions += 1
    roundSamples += samples
    if (contributions >= live) completeRound(rule)
    else while (round == myRound && failure == null && generation == gen && abandoned == null) wait()
    if (round == myRound) check(gen)
  }

  private def check(gen: Long): Unit = {
    if (failure != null) throw new IllegalStateException(failure)
    if (gen != generation) throw new SupersededException(
      "this synchronous worker belongs to an earlier attempt of the barrier stage, which Spark has replaced")
    if (abandoned != null) throw new SupersededException(abandoned)
  }

  /** The worker is done: later rounds of its generation wait for one worker fewer. */
  def leave(gen: Long): Unit = synchronized {
    if (gen == generation && abandoned == null) {
      live -= 1
      if (contributions > 0 && contributions >= live) completeRound(pendingRule)
    }
  }

  /** A worker of generation `gen` was lost: its partial round is dropped and the others are released. */
  def abandon(gen: Long, reason: String): Boolean = synchronized {
    if (gen != generation || abandoned != null) false
    else { abandoned = reason; dropPartialRound(); notifyAll(); true }
  }

  /** A retried barrier stage: a new generation, every worker live, resuming after the last completed round. */
  def restart(): Long = synchronized {
    generation += 1
    abandoned = null
    live = workers
    dropPartialRound()
    notifyAll()
    generation
  }

  def currentGeneration: Long = synchronized(generation)
  def isAbandoned(gen: Long): Boolean = synchronized(gen != generation || abandoned != null)

  def abort(reason: String): Unit = synchronized { failure = reason; notifyAll() }

  def rounds: Long = synchronized(round)

  /** Runs `f` between rounds: no round is applied meanwhile. */
  def betweenRounds[T](f: Long => T): T = synchronized(f(round))

  /** A resumed job starts after the checkpoint's completed rounds. */
  def restoreRounds(n: Long): Unit = synchronized { round = n }

  private def dropPartialRound(): Unit = {
    java.util.Arrays.fill(sum, 0f)
    contributions = 0
    roundSamples = 0
  }

  private def completeRound(rule: UpdateRule): Unit = {
    store.update(sum, 1f / contributions, rule)
    onRound(roundSamples)
    dropPartialRound()
    round += 1
    notifyAll()
  }
}
