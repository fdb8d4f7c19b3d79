package sparkeras.server

import java.io.{BufferedInputStream, BufferedOutputStream, DataInputStream, IOException}
import java.net.{InetAddress, InetSocketAddress, ServerSocket, Socket, SocketException}
import java.security.MessageDigest
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicReference

import sparkeras.codec.{FloatSink, Tensors, FrameReader, FrameTooLargeException, Frames, MalformedFrameException, StreamedTensorFrame}
import sparkeras.state.{SupersededException, TrainingJob, WorkerClaim}
import sparkeras.wire.Wire._

/**
 * The TCP parameter server: one blocking thread per connection (there are as many
 * connections as workers, and blocking sockets give the lowest latency). The first
 * frame must be a Hello carrying the job token; the driver then sends the job's
 * configuration; workers join once they have read their partition, push and pull,
 * and report their failure (WorkerFailure) before they die.
 */
final class ParameterServer(host: String, token: Array[Byte], maxFrameBytes: Int, helloTimeoutMs: Long = 600000L,
    onFailure: WorkerFailure => Unit = _ => (), authTimeoutMs: Long = ParameterServer.AuthTimeoutMs,
    limits: ParameterServer.Limits = ParameterServer.Limits(), tls: Option[javax.net.ssl.SSLContext] = None) {
  // With TLS, the handshake happens on the connection's first read, inside the authentication deadline.
  private val socket: ServerSocket = tls.map(_.getServerSocketFactory.createServerSocket()).getOrElse(new ServerSocket())
  socket.setReuseAddress(true)
  socket.bind(new InetSocketAddress(InetAddress.getByName(host), 0), 64)
  private val connections = ConcurrentHashMap.newKeySet[Socket]()
  // Connections waiting to authenticate, oldest first. A client with the token sends its Hello
  // as soon as it connects, so when the queue is full the oldest is the likeliest to be idle.
  private val pending = new java.util.concurrent.ConcurrentLinkedDeque[Socket]()
  private val authenticatedCount = new java.util.concurrent.atomic.AtomicInteger(0)
  private val refusedCount = new java.util.concurrent.atomic.AtomicLong(0)
  private val workers = ConcurrentHashMap.newKeySet[WorkerClaim]()
  private val jobRef = new AtomicReference[TrainingJob](null)
  @volatile private var running = true
  @volatile private var lastError: String = ""

  val port: Int = socket.getLocalPort
  def boundHost: String = socket.getInetAddress.getHostAddress
  def job: Option[TrainingJob] = Option(jobRef.get())
  def error: String = lastError
  /** Threads this server runs now: one per connection, the acceptor and the deadline watchdog. */
  def threadCount: Int = Thread.getAllStackTraces.keySet.toArray(Array.empty[Thread])
    .count(t => t.getName.startsWith(s"sparkeras-ps-$port-") || t.getName == s"sparkeras-ps-auth-deadline-$port")

  /** Connections refused because a cap was reached. */
  def refused: Long = refusedCount.get()

  /** Authenticated connections allowed at once: `limits.maxConnections`, or 16 + 4 per worker once the job is known. */
  def connectionCap: Int =
    if (limits.maxConnections > 0) limits.maxConnections
    else 16 + 4 * job.map(_.config.getNumWorkers).getOrElse(0)

  /** The workers connected now: partition, attempt and process id of each. */
  def connectedWorkers: Seq[WorkerClaim] = workers.toArray(Array.empty[WorkerClaim]).toSeq

  // Closes connections that have not authenticated in time, however slowly they trickle bytes.
  private val watchdog = java.util.concurrent.Executors.newSingleThreadScheduledExecutor { (r: Runnable) =>
    val t = new Thread(r, s"sparkeras-ps-auth-deadline-$port"); t.setDaemon(true); t
  }

  private val acceptor = new Thread(() => acceptLoop(), s"sparkeras-ps-$port-accept")
  acceptor.setDaemon(true)
  acceptor.start()

  private def acceptLoop(): Unit =
    while (running) {
      try {
        val s = socket.accept()
        // Over the pending cap, the oldest unauthenticated connection makes room (its thread ends).
        while (pending.size >= limits.maxPending) Option(pending.pollFirst()).foreach { old =>
          refusedCount.incrementAndGet()
          lastError = s"dropped an unauthenticated connection from ${old.getInetAddress.getHostAddress}: " +
            s"${limits.maxPending} connections were waiting to authenticate"
          try old.setSoLinger(true, 0) catch { case _: IOException => () }
          closeQuietly(old)
        }
        s.setTcpNoDelay(true)
        connections.add(s)
        pending.addLast(s)
        val authenticated = new java.util.concurrent.atomic.AtomicBoolean(false)
        watchdog.schedule((() => if (!authenticated.get()) closeQuietly(s)): Runnable, authTimeoutMs,
          java.util.concurrent.TimeUnit.MILLISECONDS)
        val t = new Thread(() => serve(s, authenticated), s"sparkeras-ps-$port-conn-${s.getPort}")
        t.setDaemon(true)
        t.start()
      } catch {
        case _: SocketException if !running => ()
        case e: IOException => lastError = s"accept failed: ${e.getMessage}"
      }
    }

  private def closeQuietly(s: Socket): Unit = try s.close() catch { case _: IOException => () }

  private def serve(s: Socket, authenticated: java.util.concurrent.atomic.AtomicBoolean): Unit = {
    // Before the token is checked, the stream is read unbuffered and only a Hello-sized frame
    // is accepted: an unauthenticated connection costs a thread and about a kilobyte.
    var out: java.io.OutputStream = null
    var session: Session = null
    var reader: FrameReader = null
    var stillPending = true
    try {
      out = s.getOutputStream // throws if the acceptor already dropped this connection
      new FrameReader(new DataInputStream(s.getInputStream), maxFrameBytes).read(ParameterServer.PreAuthFrameBytes) match {
        case Some(env) if env.hasHello && authentic(env.getHello.getToken.toByteArray) &&
            authenticatedCount.incrementAndGet() > connectionCap =>
          authenticatedCount.decrementAndGet()
          refusedCount.incrementAndGet()
          refuse(out, s"connection refused: the job's cap of $connectionCap connections is reached " +
            "(spark.sparkeras.server.maxConnections)")
        case Some(env) if env.hasHello && authentic(env.getHello.getToken.toByteArray) =>
          authenticated.set(true)
          pending.remove(s); stillPending = false
          // Workers that stop sending are dropped after the idle timeout; the driver waits out the whole fit.
          if (env.getHello.getRole != Role.DRIVER) s.setSoTimeout(math.min(Int.MaxValue.toLong, limits.idleTimeoutMs).toInt)
          val buffered = new BufferedOutputStream(s.getOutputStream, 256 * 1024)
          out = buffered
          // Large pushes stream into the job's staging arrays: the connection keeps no frame of the model's size.
          val sink: () => FloatSink = () => job.map(_.staging).orNull
          reader = new FrameReader(new DataInputStream(new BufferedInputStream(s.getInputStream, 256 * 1024)), maxFrameBytes,
            limits.streamAboveBytes, sink)
          session = new Session(env.getHello, buffered, reader)
          session.start()
          var open = true
          while (open && running) reader.read() match {
            case Some(e) => open = session.handle(e)
            case None => open = false
          }
        case Some(env) if env.hasHello => refuse(out, "authentication failed: wrong job token")
        case Some(_) => refuse(out, "the first frame must be a Hello with the job token")
        case None => ()
      }
    } catch {
      case e: FrameTooLargeException => refuse(out, e.getMessage)
      case e: MalformedFrameException => refuse(out, e.getMessage)
      case _: java.net.SocketTimeoutException =>
        refuse(out, s"closing a connection idle for ${limits.idleTimeoutMs / 1000}s (spark.sparkeras.server.idleTimeout)")
      case _: IOException => ()
    } finally {
      if (reader != null) reader.releaseStreamed()
      if (stillPending) pending.remove(s)
      if (session != null) { session.close(); authenticatedCount.decrementAndGet() }
      connections.remove(s)
      try s.close() catch { case _: IOException => () }
    }
  }

  private def authentic(presented: Array[Byte]): Boolean = MessageDigest.isEqual(presented, token)

  private def refuse(out: java.io.OutputStream, message: String): Unit = if (out != null) {
    lastError = message
    try Frames.write(out, Envelope.newBuilder().setError(Error.newBuilder().setMessage(message)).build())
    catch { case _: IOException => () }
  }

  /** One authenticated connection. `handle` returns false when the connection should close. */
  private final class Session(hello: Hello, out: BufferedOutputStream, reader: FrameReader) {
    private val weightsReply = new WeightsReply
    private var chunk: Array[Byte] = null // for weights streamed from a staging array
    private var incoming: Array[Float] = Array.emptyFloatArray
    private var staging: Array[Byte] = Array.emptyByteArray
    private var finished = false
    private val isWorker = hello.getRole != Role.DRIVER
    private val claim = new WorkerClaim(hello.getPartition, hello.getAttempt, hello.getPid)

    def start(): Unit = { if (isWorker) workers.add(claim); reply(ack) }

    def handle(env: Envelope): Boolean = {
      val j = jobRef.get()
      env.getBodyCase match {
        case Envelope.BodyCase.JOB_CONFIG if !isWorker =>
          try { jobRef.set(new TrainingJob(env.getJobConfig, limits.stagingBytes)); reply(ack) }
          catch { case e: IllegalArgumentException => reply(error(s"invalid job configuration: ${e.getMessage}")) }
        case _ if j == null => reply(error("no training job is configured on this server yet"))
        case Envelope.BodyCase.JOIN if isWorker =>
          var snapshot: Array[Float] = null
          val streamed = streams(j)
          try {
            val welcome = j.welcomeInto(claim, env.getJoin, helloTimeoutMs,
              () => { snapshot = if (streamed) j.staging.borrow() else new Array[Float](j.size); snapshot })
            writeTensor(Envelope.WELCOME_FIELD_NUMBER, welcome.toByteArray, Welcome.WEIGHTS_FIELD_NUMBER, snapshot)
          } catch { case e: RuntimeException => reply(error(e.getMessage)) }
          finally if (streamed && snapshot != null) j.staging.release(snapshot)
        case Envelope.BodyCase.WORKER_FAILURE =>
          val report = env.getWorkerFailure
          if (j.fail(report, claim)) {
            lastError = s"partition ${report.getPartition} failed: ${report.getExceptionType}: ${report.getMessage}"
            onFailure(report)
          }
          reply(ack)
        case Envelope.BodyCase.PUSH if !isWorker && env.getPush.getKind == PushKind.INITIAL =>
          try {
            val streamed = reader.streamed
            if (streamed == null) j.setInitial(env.getPush, Tensors.toArray(env.getPush.getValues, "initial weights"))
            else try {
              if (streamed.refusal != null) throw new IllegalArgumentException(streamed.refusal)
              j.setInitial(streamed.push, streamed.values)
            } finally reader.releaseStreamed()
            reply(ack)
          } catch { case e: IllegalArgumentException => reply(error(s"initial weights refused: ${e.getMessage}")) }
        case Envelope.BodyCase.PUSH if isWorker =>
          try {
            val streamed = reader.streamed
            if (streamed == null) {
              if (incoming.length != j.size) { incoming = new Array[Float](j.size); staging = new Array[Byte](j.size * 4) }
              j.push(env.getPush, incoming, staging, claim)
            } else {
              // The staging array goes back as soon as the push is summed or applied (the reply may need
              // it), or refused: a refused worker may keep its connection open.
              try {
                if (streamed.refusal != null) throw new IllegalArgumentException(streamed.refusal)
                j.pushDecoded(streamed.push, streamed.values, claim, () => reader.releaseStreamed())
              } finally reader.releaseStreamed()
            }
            if (env.getPush.getWantWeights) replyWeights(j) else reply(ack)
          } catch {
            case e: IllegalArgumentException => reply(error(s"push refused: ${e.getMessage}"))
            case e: SupersededException => reply(error(s"superseded: ${e.getMessage}"))
            case e: IllegalStateException => reply(error(e.getMessage))
          }
        case Envelope.BodyCase.PULL =>
          if (!isWorker && env.getPull.getEndOfTraining) j.finishTraining()
          replyWeights(j)
        case Envelope.BodyCase.EPOCH_METRICS if isWorker =>
          j.recordMetrics(claim, env.getEpochMetrics)
          j.awaitCallbacks(env.getEpochMetrics.getEpoch, limits.idleTimeoutMs)
          reply(if (j.stopRequested) stopAck else ack)
        case Envelope.BodyCase.WORKER_STATE if isWorker =>
          try { j.recordState(claim, env.getWorkerState); reply(ack) }
          catch { case e: IllegalArgumentException => reply(error(s"state refused: ${e.getMessage}")) }
        case Envelope.BodyCase.STATE_REQUEST => reply(Envelope.newBuilder().setWorkerState(j.meanState).build())
        case Envelope.BodyCase.MEMBERS_REQUEST if !isWorker => reply(Envelope.newBuilder().setMembers(j.membersProto).build())
        case Envelope.BodyCase.HISTORY_REQUEST => reply(Envelope.newBuilder().setHistory(j.history.toProto).build())
        case Envelope.BodyCase.DONE => if (isWorker) { finished = true; j.workerFinished(claim) }; reply(ack)
        case other => reply(error(s"unexpected message ${other.name().toLowerCase} on this connection"))
      }
      true
    }

    def close(): Unit = if (isWorker) {
      workers.remove(claim)
      val j = jobRef.get()
      if (j != null && !finished) j.workerLost(claim)
    }

    private def streams(j: TrainingJob): Boolean = 4L * j.size > limits.streamAboveBytes

    private def replyWeights(j: TrainingJob): Unit = {
      val pulled = if (isWorker) j.pulledBy(claim) else null
      if (!streams(j)) weightsReply.write(out, j.store, pulled)
      else j.staging.using { snapshot =>
        val version = j.store.snapshot(snapshot)
        if (pulled != null) System.arraycopy(snapshot, 0, pulled, 0, snapshot.length)
        writeTensor(Envelope.WEIGHTS_FIELD_NUMBER, Weights.newBuilder().setVersion(version).build().toByteArray,
          Weights.VALUES_FIELD_NUMBER, snapshot)
      }
    }

    private def writeTensor(envelopeField: Int, prefix: Array[Byte], tensorField: Int, values: Array[Float]): Unit = {
      if (chunk == null) chunk = new Array[Byte](64 * 1024)
      StreamedTensorFrame.write(out, envelopeField, prefix, tensorField, values, chunk)
    }

    private def reply(e: Envelope): Unit = Frames.write(out, e)
  }

  private val ack = Envelope.newBuilder().setAck(Ack.getDefaultInstance).build()
  private val stopAck = Envelope.newBuilder().setAck(Ack.newBuilder().setStop(true)).build()
  private def error(message: String): Envelope = {
    lastError = message
    Envelope.newBuilder().setError(Error.newBuilder().setMessage(message)).build()
  }

  def stop(): Unit = {
    running = false
    job.foreach(_.abort("the parameter server was stopped"))
    // The job's weights and slots go now, not when the caller's last reference to this server does.
    jobRef.set(null)
    watchdog.shutdownNow()
    try socket.close() catch { case _: IOException => () }
    connections.forEach(s => try s.close() catch { case _: IOException => () })
  }
}

object ParameterServer {
  /**
   * Connection and memory limits. `maxPending`: connections waiting to authenticate;
   * `maxConnections`: all connections of the job (0: 16 + 4 per worker); `idleTimeoutMs`: how
   * long an authenticated worker connection may stay silent (a slow step or a long spill
   * counts). A model whose weights fill more than `streamAboveBytes` is pushed and pulled
   * through the job's staging arrays, as many as `stagingBytes` holds (at least one).
   */
  final case class Limits(maxPending: Int = 64, maxConnections: Int = 0, idleTimeoutMs: Long = 3600L * 1000,
                          streamAboveBytes: Int = TrainingJob.StreamAboveBytes,
                          stagingBytes: Long = TrainingJob.DefaultStagingBytes)

  /** The first frame (a Hello: token, role, partition, attempt) fits in this; a larger one is refused unread. */
  val PreAuthFrameBytes: Int = 1024
  /** A connection that has not sent a valid Hello by then is closed. */
  val AuthTimeoutMs: Long = 10000L
}
