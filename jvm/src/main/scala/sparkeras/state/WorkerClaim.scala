package sparkeras.state

/**
 * One worker connection's claim on its partition's progress. A retried task attempt
 * joins with a new claim, which supersedes the old one: from then on the old
 * connection's pushes and failure reports are refused, so that no step is applied twice.
 */
final class WorkerClaim(val partition: Int, val attempt: Int, val pid: Long) {
  @volatile private[state] var joined = false
  // Synchronous jobs: the generation (barrier-stage attempt) this claim joined.
  @volatile private[state] var generation = -1L
  @volatile private[state] var finished = false
  // ADAG: the weights this worker last pulled (the server's copy; the worker sends only its change).
  @volatile private[state] var pulled: Array[Float] = null
}

/** The request came from an attempt that a later attempt (or a retried barrier stage) replaced; Spark retries it. */
final class SupersededException(message: String) extends IllegalStateException(message)
