package sparkeras

import java.io.{DataOutputStream, IOException}
import java.lang.management.ManagementFactory
import java.net.{InetSocketAddress, Socket}

import scala.util.Random

import com.google.protobuf.ByteString
import org.scalatest.funsuite.AnyFunSuite
import sparkeras.server.ParameterServer
import sparkeras.wire.Wire._

/**
 * Hostile bytes on the parameter server's port: at least 10,000 malformed, truncated,
 * oversized and unauthenticated frames, then checks that the weights are unchanged, the
 * server still serves, and threads and heap stayed bounded.
 */
class FuzzSpec extends AnyFunSuite {
  private val token = Array.tabulate[Byte](32)(i => (i * 7 + 3).toByte)
  private val initial = Array(1f, 2f, 3f, 4f)
  private val random = new Random(20261124)

  private def start(limits: ParameterServer.Limits = ParameterServer.Limits(maxPending = 16, maxConnections = 48),
                    authMs: Long = 1000): ParameterServer = {
    val server = new ParameterServer("127.0.0.1", token, 1 << 20, authTimeoutMs = authMs, limits = limits)
    val driver = new TestClient(server.port)
    assert(driver.hello(token, Role.DRIVER).hasAck)
    assert(driver.call(Envelope.newBuilder().setJobConfig(TestClient.config("asynchronous", initial, workers = 2)).build()).hasAck)
    driver.close()
    server
  }

  private def frame(body: Array[Byte]): Array[Byte] =
    Array((body.length >>> 24).toByte, (body.length >>> 16).toByte, (body.length >>> 8).toByte, body.length.toByte) ++ body

  private def bytes(n: Int): Array[Byte] = { val b = new Array[Byte](n); random.nextBytes(b); b }

  private def push(values: Array[Float], samples: Long = 1, kind: PushKind = PushKind.GRADIENT): Array[Byte] =
    Envelope.newBuilder().setPush(Push.newBuilder().setKind(kind).setSamples(samples).setValues(TestClient.tensor(values)))
      .build().toByteArray

  private def hello(t: Array[Byte], pad: Int = 0): Array[Byte] =
    Envelope.newBuilder().setHello(Hello.newBuilder().setToken(ByteString.copyFrom(t)).setRole(Role.WORKER)
      .setPartition(random.nextInt(4)).setPid(pad.toLong)).build().toByteArray

  /** One frame an attacker without the token might send first. */
  private def unauthenticated(): Array[Byte] = random.nextInt(8) match {
    case 0 => bytes(1 + random.nextInt(64))                                   // no framing at all
    case 1 => frame(bytes(random.nextInt(900)))                               // garbage body
    case 2 => Array[Byte](0x7f, 0, 0, 0)                                      // announces 2 GB, sends nothing
    case 3 => frame(bytes(200)).take(1 + random.nextInt(150))                 // truncated
    case 4 => frame(push(Array(9f, 9f, 9f, 9f)))                              // a push before any Hello
    case 5 => val t = token.clone(); t(random.nextInt(32)) = (t(0) ^ 0x55).toByte; frame(hello(t)) // wrong token
    case 6 => frame(hello(token) ++ bytes(2000))                              // a Hello over the pre-auth cap
    case _ => frame(Envelope.newBuilder().setPull(Pull.getDefaultInstance).build().toByteArray)
  }

  /** One bad frame from a client that has the token. */
  private def authenticatedBad(): Array[Byte] = random.nextInt(7) match {
    case 0 => frame(push(Array(1f, 2f)))                                      // wrong size
    case 1 => frame(push(Array(0f, Float.NaN, 0f, 0f)))                       // NaN
    case 2 => frame(push(Array(0f, 0f, Float.PositiveInfinity, 0f)))          // infinity
    case 3 => frame(push(Array(1f, 1f, 1f, 1f), samples = -1 - random.nextInt(1000)))
    case 4 => frame(push(Array(1f, 1f, 1f, 1f), kind = PushKind.PUSH_KIND_UNSPECIFIED))
    case 5 => frame(Envelope.newBuilder().setJobConfig(JobConfig.getDefaultInstance).build().toByteArray) // config from a worker
    case _ => frame(Envelope.newBuilder().setPush(Push.newBuilder().setSamples(1)).build().toByteArray) // no tensor
  }

  private def send(port: Int, payload: Array[Byte]): Unit = {
    val s = new Socket()
    try {
      s.connect(new InetSocketAddress("127.0.0.1", port), 2000)
      s.setSoTimeout(2000)
      new DataOutputStream(s.getOutputStream).write(payload)
      s.getOutputStream.flush()
    } catch { case _: IOException => () } finally s.close()
  }

  private def threads = ManagementFactory.getThreadMXBean.getThreadCount

  private def timed[T](what: String)(f: => T): T = {
    val t0 = System.nanoTime(); val r = f; info(f"$what: ${(System.nanoTime() - t0) / 1e9}%.1f s"); r
  }

  test("10,000 hostile frames leave the weights unchanged and the server serving, with bounded threads") {
    val server = start()
    try {
      val before = threads
      var peakThreads = before
      var frames = 0
      // Unauthenticated connections, several at once from a few attacker threads.
      val attackers = (1 to 4).map { _ => new Thread(() => (1 to 500).foreach { _ =>
        send(server.port, unauthenticated())
      }) }
      timed("2,000 unauthenticated connections (a loopback connection costs ~10 ms on this sandbox)") {
        attackers.foreach(_.start())
        while (attackers.exists(_.isAlive)) { peakThreads = math.max(peakThreads, threads); Thread.sleep(5) }
      }
      frames += 2000
      // Connections with the token that send bad frames: each is refused, the connection stays usable.
      val insider = new TestClient(server.port)
      assert(insider.hello(token, Role.WORKER, partition = 0).hasAck)
      assert(insider.join(10).hasWelcome)
      (1 to 8000).foreach { _ =>
        insider.rawWrite(authenticatedBad())
        val r = insider.readReply().get
        assert(r.hasError, r)
      }
      frames += 8000
      // Garbage after authentication ends that connection only.
      (1 to 200).foreach { _ =>
        val c = new TestClient(server.port)
        c.hello(token, Role.WORKER, partition = 1)
        c.rawWrite(frame(bytes(50 + random.nextInt(500))))
        c.readReply(); c.close()
      }
      frames += 200
      assert(frames >= 10000)
      val check = new TestClient(server.port)
      assert(check.hello(token, Role.WORKER, partition = 2).hasAck)
      assert(check.pull().toSeq == initial.toSeq, "no hostile frame changed the weights")
      assert(check.join(10).hasWelcome && check.push(Array(1f, 1f, 1f, 1f)).hasAck, "the server still applies good pushes")
      assert(peakThreads <= before + 16 + 4, s"threads: $before before, $peakThreads at the peak (pending cap 16)")
      info(s"$frames hostile frames; threads $before before, $peakThreads at the peak; ${server.refused} connections refused")
    } finally server.stop()
  }

  test("unauthenticated clients cost little heap, are dropped at the deadline, and over the cap the oldest are dropped") {
    val server = start(ParameterServer.Limits(maxPending = 64, maxConnections = 200), authMs = 1500)
    try {
      // What this server's own threads allocate (an upper bound on what they retain), not the
      // whole heap, which other suites in this JVM move by more than the bound.
      val mx = ManagementFactory.getThreadMXBean.asInstanceOf[com.sun.management.ThreadMXBean]
      def allocated(): Long = {
        val mine = Thread.getAllStackTraces.keySet.toArray(Array.empty[Thread])
          .filter(_.getName.startsWith(s"sparkeras-ps-${server.port}-")).map(_.getId)
        mx.getThreadAllocatedBytes(mine).filter(_ > 0).sum
      }
      val baseline = allocated()
      // Each announces the biggest Hello allowed and sends half of it; then waits.
      // Over the pending cap, the oldest waiting connection is reset; a new one may see that as an error.
      val idle = (1 to 100).flatMap { _ =>
        try {
          val s = new Socket("127.0.0.1", server.port)
          s.getOutputStream.write(frame(new Array[Byte](1000)).take(500))
          Some(s)
        } catch { case _: IOException => None }
      }
      Thread.sleep(300)
      val held = allocated() - baseline
      assert(held < 16L * 1024 * 1024, s"100 unauthenticated clients made the server allocate ${held / 1024} KB")
      info(s"100 unauthenticated clients: ${held / 1024} KB allocated by the server's threads, ${server.refused} refused")
      assert(server.refused >= 36, s"over the pending cap of 64, the oldest are dropped (${server.refused} dropped)")
      val started = System.nanoTime()
      val dropped = idle.map { s =>
        try { s.setSoTimeout(4000); s.getInputStream.read(); true }
        catch { case _: java.net.SocketTimeoutException => false; case _: IOException => true }
      }
      val seconds = (System.nanoTime() - started) / 1e9
      assert(dropped.forall(identity) && seconds < 3.5, s"idle clients dropped after $seconds s (deadline 1.5 s)")
      idle.foreach(_.close())
      val later = new TestClient(server.port)
      assert(later.hello(token, Role.WORKER).hasAck, "with the idle clients gone, a worker connects")
    } finally server.stop()
  }

  test("authenticated connections over the job's cap are refused with an error naming the setting") {
    val server = start(ParameterServer.Limits(maxConnections = 3))
    try {
      val held = (1 to 3).map { i => val c = new TestClient(server.port); assert(c.hello(token, Role.WORKER, i).hasAck); c }
      val r = new TestClient(server.port).hello(token, Role.WORKER, 9)
      assert(r.hasError && r.getError.getMessage.contains("spark.sparkeras.server.maxConnections"), r)
      held.head.close()
      Thread.sleep(200)
      assert(new TestClient(server.port).hello(token, Role.WORKER, 9).hasAck, "a freed place is taken")
    } finally server.stop()
  }

  test("an authenticated worker that goes silent is dropped after the idle timeout; the driver is not") {
    val server = start(ParameterServer.Limits(idleTimeoutMs = 800))
    try {
      val w = new TestClient(server.port); w.hello(token, Role.WORKER)
      val d = new TestClient(server.port); d.hello(token, Role.DRIVER)
      Thread.sleep(1500)
      val r = w.readReply()
      assert(r.exists(e => e.hasError && e.getError.getMessage.contains("idle")), r)
      assert(d.pull().toSeq == initial.toSeq)
    } finally server.stop()
  }
}
