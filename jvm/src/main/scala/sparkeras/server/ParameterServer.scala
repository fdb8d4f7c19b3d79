package sparkeras.server

import java.io.{BufferedInputStream, BufferedOutputStream, DataInputStream, IOException}
import java.net.{InetAddress, InetSocketAddress, ServerSocket, Socket, SocketException}
import java.security.MessageDigest
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicReference

import sparkeras.codec.{FrameReader, FrameTooLargeException, Frames, MalformedFrameException}
import sparkeras.state.TrainingJob
import sparkeras.wire.Wire._

/**
 * The TCP parameter server: one blocking thread per connection (there are as many
 * connections as workers, and blocking sockets give the lowest latency). The first
 * frame must be a Hello carrying the job token; the driver then sends the job's
 * configuration; workers join once they have read their partition, push and pull,
 * and report their failure (WorkerFailure) before they die.
 */
final class ParameterServer(host: String, token: Array[Byte], maxFrameBytes: Int, helloTimeoutMs: Long = 600000L,
    onFailure: WorkerFailure => Unit = _ => (), authTimeoutMs: Long = ParameterServer.AuthTimeoutMs) {
  private val socket = new ServerSocket()
  socket.setReuseAddress(true)
  socket.bind(new InetSocketAddress(InetAddress.getByName(host), 0), 64)
  private val connections = ConcurrentHashMap.newKeySet[Socket]()
  private val jobRef = new AtomicReference[TrainingJob](null)
  @volatile private var running = true
  @volatile private var lastError: String = ""

  val port: Int = socket.getLocalPort
  def boundHost: String = socket.getInetAddress.getHostAddress
  def job: Option[TrainingJob] = Option(jobRef.get())
  def error: String = lastError

  // Closes connections that have not authenticated in time, however slowly they trickle bytes.
  private val watchdog = java.util.concurrent.Executors.newSingleThreadScheduledExecutor { (r: Runnable) =>
    val t = new Thread(r, s"sparkeras-ps-auth-deadline-$port"); t.setDaemon(true); t
  }

  private val acceptor = new Thread(() => acceptLoop(), s"sparkeras-ps-accept-$port")
  acceptor.setDaemon(true)
  acceptor.start()

  private def acceptLoop(): Unit =
    while (running) {
      try {
        val s = socket.accept()
        s.setTcpNoDelay(true)
        connections.add(s)
        val authenticated = new java.util.concurrent.atomic.AtomicBoolean(false)
        watchdog.schedule((() => if (!authenticated.get()) closeQuietly(s)): Runnable, authTimeoutMs,
          java.util.concurrent.TimeUnit.MILLISECONDS)
        val t = new Thread(() => serve(s, authenticated), s"sparkeras-ps-conn-${s.getPort}")
        t.setDaemon(true)
        t.start()
      } catch {
        case _: SocketException if !running => ()
        case e: IOException => lastError = s"accept failed: ${e.getMessage}"
      }
    }

  private def closeQuietly(s: Socket): Unit = try s.close() catch { case _: IOException => () }

  private def serve(s: Socket, authenticated: java.util.concurrent.atomic.AtomicBoolean): Unit = {
    val in = new DataInputStream(new BufferedInputStream(s.getInputStream, 256 * 1024))
    val out = new BufferedOutputStream(s.getOutputStream, 256 * 1024)
    val reader = new FrameReader(in, maxFrameBytes)
    var session: Session = null
    try {
      // Before the token is checked, only a Hello-sized frame is read: nothing larger is allocated.
      reader.read(ParameterServer.PreAuthFrameBytes) match {
        case Some(env) if env.hasHello && authentic(env.getHello.getToken.toByteArray) =>
          authenticated.set(true)
          session = new Session(env.getHello, out)
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
      case _: IOException => ()
    } finally {
      if (session != null) session.close()
      connections.remove(s)
      try s.close() catch { case _: IOException => () }
    }
  }

  private def authentic(presented: Array[Byte]): Boolean = MessageDigest.isEqual(presented, token)

  private def refuse(out: BufferedOutputStream, message: String): Unit = {
    lastError = message
    try Frames.write(out, Envelope.newBuilder().setError(Error.newBuilder().setMessage(message)).build())
    catch { case _: IOException => () }
  }

  /** One authenticated connection. `handle` returns false when the connection should close. */
  private final class Session(hello: Hello, out: BufferedOutputStream) {
    private val weightsReply = new WeightsReply
    private var incoming: Array[Float] = Array.emptyFloatArray
    private var staging: Array[Byte] = Array.emptyByteArray
    private var finished = false
    private val isWorker = hello.getRole != Role.DRIVER

    def start(): Unit = reply(ack)

    def handle(env: Envelope): Boolean = {
      val j = jobRef.get()
      env.getBodyCase match {
        case Envelope.BodyCase.JOB_CONFIG if !isWorker =>
          try { jobRef.set(new TrainingJob(env.getJobConfig)); reply(ack) }
          catch { case e: IllegalArgumentException => reply(error(s"invalid job configuration: ${e.getMessage}")) }
        case _ if j == null => reply(error("no training job is configured on this server yet"))
        case Envelope.BodyCase.JOIN if isWorker =>
          try reply(Envelope.newBuilder().setWelcome(j.welcome(hello, env.getJoin, helloTimeoutMs)).build())
          catch { case e: RuntimeException => reply(error(e.getMessage)) }
        case Envelope.BodyCase.WORKER_FAILURE =>
          val report = env.getWorkerFailure
          lastError = s"partition ${report.getPartition} failed: ${report.getExceptionType}: ${report.getMessage}"
          if (j.fail(report)) onFailure(report)
          reply(ack)
        case Envelope.BodyCase.PUSH =>
          try {
            if (incoming.length != j.size) { incoming = new Array[Float](j.size); staging = new Array[Byte](j.size * 4) }
            j.push(env.getPush, incoming, staging)
            if (env.getPush.getWantWeights) replyWeights(j) else reply(ack)
          } catch {
            case e: IllegalArgumentException => reply(error(s"push refused: ${e.getMessage}"))
            case e: IllegalStateException => reply(error(e.getMessage))
          }
        case Envelope.BodyCase.PULL => replyWeights(j)
        case Envelope.BodyCase.EPOCH_METRICS => j.history.record(env.getEpochMetrics); reply(ack)
        case Envelope.BodyCase.HISTORY_REQUEST => reply(Envelope.newBuilder().setHistory(j.history.toProto).build())
        case Envelope.BodyCase.DONE => if (isWorker) markFinished(j); reply(ack)
        case other => reply(error(s"unexpected message ${other.name().toLowerCase} on this connection"))
      }
      true
    }

    private def markFinished(j: TrainingJob): Unit = if (!finished) { finished = true; j.workerLeft() }

    def close(): Unit = if (isWorker) {
      val j = jobRef.get()
      if (j != null) markFinished(j)
    }

    private def replyWeights(j: TrainingJob): Unit = weightsReply.write(out, j.store)

    private def reply(e: Envelope): Unit = Frames.write(out, e)
  }

  private val ack = Envelope.newBuilder().setAck(Ack.getDefaultInstance).build()
  private def error(message: String): Envelope = {
    lastError = message
    Envelope.newBuilder().setError(Error.newBuilder().setMessage(message)).build()
  }

  def stop(): Unit = {
    running = false
    job.foreach(_.abort("the parameter server was stopped"))
    watchdog.shutdownNow()
    try socket.close() catch { case _: IOException => () }
    connections.forEach(s => try s.close() catch { case _: IOException => () })
  }
}

object ParameterServer {
  /** The first frame (a Hello: token, role, partition, attempt) fits in this; a larger one is refused unread. */
  val PreAuthFrameBytes: Int = 1024
  /** A connection that has not sent a valid Hello by then is closed. */
  val AuthTimeoutMs: Long = 10000L
}
