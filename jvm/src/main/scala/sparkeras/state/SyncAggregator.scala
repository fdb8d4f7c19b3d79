package sparkeras.state

/**
 * Synchronous rounds: every live worker contributes once, the mean is applied to
 * the store once, and all contributors are released together with the same
 * weights. A worker that leaves (finished or failed) no longer holds a round up.
 */
final class SyncAggregator(store: ParameterStore, liveWorkers: Int) {
  private val sum = new Array[Float](store.size)
  private var contributions = 0
  private var live = liveWorkers
  private var round = 0L
  private var failure: String = null
  private var pendingRule: UpdateRule = DeltaMerge

  /** Adds a contribution and blocks until its round has been applied. */
  def contribute(values: Array[Float], rule: UpdateRule): Unit = synchronized {
    if (failure != null) throw new IllegalStateException(failure)
    val myRound = round
    pendingRule = rule
    var i = 0
    while (i < sum.length) { sum(i) += values(i); i += 1 }
    contributions += 1
    if (contributions >= live) completeRound(rule)
    else while (round == myRound && failure == null) wait()
    if (round == myRound && failure != null) throw new IllegalStateException(failure)
  }

  /** The worker is done (or gone): later rounds wait for one worker fewer. */
  def leave(): Unit = synchronized {
    live -= 1
    if (contributions > 0 && contributions >= live) completeRound(pendingRule)
  }

  def abort(reason: String): Unit = synchronized { failure = reason; notifyAll() }

  def rounds: Long = synchronized(round)

  private def completeRound(rule: UpdateRule): Unit = {
    store.update(sum, 1f / contributions, rule)
    java.util.Arrays.fill(sum, 0f)
    contributions = 0
    round += 1
    notifyAll()
  }
}
