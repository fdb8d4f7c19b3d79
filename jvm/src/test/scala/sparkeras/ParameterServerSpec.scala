package sparkeras

import java.nio.charset.StandardCharsets.UTF_8

import org.scalatest.funsuite.AnyFunSuite
import sparkeras.server.Coordinator
import sparkeras.wire.Wire._

class ParameterServerSpec extends AnyFunSuite with CoordinatorFixture {
  test("binds to the requested address and hands out a 32-byte token") {
    assert(coordinator.getHost == "127.0.0.1" && coordinator.getPort > 0)
    assert(token.length == 32)
    assert(coordinator.version == Version.current && Version.current != "unknown")
  }

  test("a wrong token is refused and nothing else is accepted on that connection") {
    configure(TestClient.config("asynchronous", Array(1f, 1f)))
    val c = new TestClient(coordinator.getPort)
    val wrong = token.clone(); wrong(0) = (wrong(0) ^ 1).toByte
    val r = c.hello(wrong, Role.WORKER)
    assert(r.hasError && r.getError.getMessage.contains("authentication failed"))
    assert(c.readReply().isEmpty, "the server must close the connection")
    val pusher = new TestClient(coordinator.getPort)
    val r2 = pusher.push(Array(5f, 5f))
    assert(r2.hasError && r2.getError.getMessage.contains("first frame must be a Hello"))
    val check = new TestClient(coordinator.getPort); check.hello(token, Role.WORKER)
    assert(check.pull().toSeq == Seq(1f, 1f))
  }

  test("a frame over the cap is refused before it is read, and the weights are untouched") {
    configure(TestClient.config("asynchronous", Array(1f)))
    val c = new TestClient(coordinator.getPort)
    c.hello(token, Role.WORKER)
    c.rawWrite(Array[Byte](0x7f, 0, 0, 0)) // announces ~2 GB, sends nothing more
    val r = c.readReply().get
    assert(r.hasError && r.getError.getMessage.contains("exceeds the cap"))
    val check = new TestClient(coordinator.getPort); check.hello(token, Role.WORKER)
    assert(check.pull().toSeq == Seq(1f))
  }

  test("a frame that does not parse is refused with a clear error") {
    configure(TestClient.config("asynchronous", Array(1f)))
    val c = new TestClient(coordinator.getPort)
    c.hello(token, Role.WORKER)
    val junk = "definitely not protobuf".getBytes(UTF_8) ++ Array.fill[Byte](8)(0xff.toByte)
    c.rawWrite(Array[Byte](0, 0, 0, junk.length.toByte) ++ junk)
    val r = c.readReply().get
    assert(r.hasError && r.getError.getMessage.contains("not a valid sparkeras envelope"))
  }

  test("a push of the wrong size is refused and leaves the weights intact") {
    configure(TestClient.config("asynchronous", Array(1f, 2f, 3f)))
    val c = new TestClient(coordinator.getPort)
    assert(c.hello(token, Role.WORKER).hasAck)
    assert(c.join().hasWelcome)
    val r = c.push(Array(1f))
    assert(r.hasError && r.getError.getMessage.contains("3 trainable parameters"))
    assert(c.pull().toSeq == Seq(1f, 2f, 3f))
  }

  test("asynchronous pushes apply the server-side rule and report staleness") {
    configure(TestClient.config("asynchronous", Array(1f, 1f), params = Map("learning_rate" -> 0.5)))
    val a = new TestClient(coordinator.getPort); val b = new TestClient(coordinator.getPort)
    a.hello(token, Role.WORKER, partition = 0); b.hello(token, Role.WORKER, partition = 1)
    val wa = a.join().getWelcome; b.join()
    assert(wa.getConfig.getMode == "asynchronous" && TestClient.floats(wa.getWeights).toSeq == Seq(1f, 1f))
    a.push(Array(1f, 1f), base = 0)
    val r = b.push(Array(1f, 1f), want = true, base = 0)
    assert(TestClient.floats(r.getWeights.getValues).toSeq == Seq(0f, 0f) && r.getWeights.getVersion == 2)
    assert(coordinator.progress().split(" ")(6) == "1", coordinator.progress())
  }

  test("synchronous mode averages one gradient per worker per round over TCP") {
    configure(TestClient.config("synchronous", Array(0f), params = Map("learning_rate" -> 1.0), workers = 2, batchSize = 10))
    val a = new TestClient(coordinator.getPort); val b = new TestClient(coordinator.getPort)
    var stepsA = 0
    a.hello(token, Role.WORKER, partition = 0); b.hello(token, Role.WORKER, partition = 1)
    val ta = new Thread(() => stepsA = a.join(25).getWelcome.getStepsPerEpoch)
    ta.start()
    val stepsB = b.join(9).getWelcome.getStepsPerEpoch
    ta.join(5000)
    assert(stepsA == 3 && stepsB == 3, "both workers agree on the larger partition's step count")
    var ra: Envelope = null
    val t = new Thread(() => ra = a.push(Array(2f), want = true)); t.start()
    val rb = b.push(Array(4f), want = true); t.join(5000)
    assert(TestClient.floats(rb.getWeights.getValues).toSeq == Seq(-3f))
    assert(TestClient.floats(ra.getWeights.getValues).toSeq == Seq(-3f))
  }

  test("a reported worker failure releases a synchronous worker waiting to join, and the first one is kept") {
    configure(TestClient.config("synchronous", Array(0f), workers = 2))
    val a = new TestClient(coordinator.getPort); val b = new TestClient(coordinator.getPort)
    a.hello(token, Role.WORKER, partition = 0); b.hello(token, Role.WORKER, partition = 1)
    var waiting: Envelope = null
    val t = new Thread(() => waiting = a.join(10)); t.start()
    Thread.sleep(200)
    assert(b.fail(1, "ValueError", "custom layer exploded").hasAck)
    t.join(5000)
    assert(waiting != null && waiting.hasError && waiting.getError.getMessage.contains("partition 1 failed: ValueError"), waiting)
    b.fail(0, "ConnectionError", "later")
    val json = coordinator.failure()
    assert(json.contains("\"exception_type\":\"ValueError\"") && json.contains("\"partition\":1"), json)
    assert(json.contains("custom layer exploded"))
  }

  test("before authentication only a Hello-sized frame is read, and silent or trickling clients are dropped") {
    coordinator.stop()
    val server = new sparkeras.server.ParameterServer("127.0.0.1", Array.fill[Byte](32)(7), 1 << 30, authTimeoutMs = 1500L)
    try {
      val big = new TestClient(server.port)
      big.rawWrite(Array[Byte](0x3f, 0, 0, 0)) // announces ~1 GB before any token
      val r = big.readReply().get
      assert(r.hasError && r.getError.getMessage.contains("exceeds the cap of 1024 bytes"), r)
      val silent = new TestClient(server.port)
      val trickle = new TestClient(server.port)
      val started = System.nanoTime()
      trickle.rawWrite(Array[Byte](0, 0))
      Thread.sleep(800)
      trickle.rawWrite(Array[Byte](0))
      assert(silent.readReply().isEmpty, "a client that sends nothing is dropped")
      assert(scala.util.Try(trickle.readReply()).toOption.flatten.isEmpty, "a client that trickles is dropped")
      val waited = (System.nanoTime() - started) / 1e6
      assert(waited < 5000, s"dropped after $waited ms")
      val good = new TestClient(server.port)
      assert(good.hello(Array.fill[Byte](32)(7), Role.DRIVER).hasAck, "the server still answers")
      Thread.sleep(2000)
      assert(good.call(Envelope.newBuilder().setPull(Pull.getDefaultInstance).build()).hasError,
        "an authenticated connection outlives the deadline (no job yet: an error, not a closed socket)")
    } finally server.stop()
    coordinator = newCoordinator()
  }

  test("pushes holding NaN or Inf, negative samples or another shape are refused and leave the weights intact") {
    configure(TestClient.config("asynchronous", Array(1f, 2f)))
    val c = new TestClient(coordinator.getPort)
    c.hello(token, Role.WORKER)
    c.join(10)
    val nan = c.push(Array(0f, Float.NaN))
    assert(nan.hasError && nan.getError.getMessage.contains("NaN at index 1"), nan)
    val inf = c.push(Array(Float.NegativeInfinity, 0f))
    assert(inf.hasError && inf.getError.getMessage.contains("-Infinity at index 0"), inf)
    val negative = c.call(Envelope.newBuilder().setPush(Push.newBuilder().setKind(PushKind.GRADIENT)
      .setValues(TestClient.tensor(Array(1f, 1f))).setSamples(-5)).build())
    assert(negative.hasError && negative.getError.getMessage.contains("samples must not be negative"), negative)
    val reshaped = TestClient.tensor(Array(1f, 1f)).toBuilder.clearShape().addShape(1).addShape(2).build()
    val wrongShape = c.call(Envelope.newBuilder().setPush(Push.newBuilder().setKind(PushKind.GRADIENT)
      .setValues(reshaped).setSamples(1)).build())
    assert(wrongShape.hasError && wrongShape.getError.getMessage.contains("must be flat, shape [2]"), wrongShape)
    assert(c.pull().toSeq == Seq(1f, 2f))
    assert(coordinator.progress().split(" ")(0) == "0", "no samples were counted")
  }

  test("a refused push holds nothing: another worker's push goes through while the refused one stays connected") {
    configure(TestClient.config("asynchronous", Array(1f, 2f), workers = 2))
    val refused = new TestClient(coordinator.getPort); refused.hello(token, Role.WORKER); refused.join(10)
    val other = new TestClient(coordinator.getPort); other.hello(token, Role.WORKER, partition = 1); other.join(10)
    assert(refused.push(Array(Float.NaN, 0f)).hasError)
    val pushed = new java.util.concurrent.atomic.AtomicReference[Envelope]()
    val t = new Thread(() => pushed.set(other.push(Array(1f, 1f), want = true))); t.start(); t.join(10000)
    assert(pushed.get != null && pushed.get.hasWeights, "the push after a refused one was not answered")
    assert(TestClient.floats(pushed.get.getWeights.getValues).toSeq == Seq(0f, 1f))
  }

  test("per-epoch metrics are averaged by row count into the history") {
    configure(TestClient.config("asynchronous", Array(0f)))
    val a = new TestClient(coordinator.getPort); a.hello(token, Role.WORKER)
    a.call(Envelope.newBuilder().setEpochMetrics(EpochMetrics.newBuilder().setEpoch(0).setSamples(30).putValues("loss", 1.0)
      .setValSamples(10).putValValues("loss", 2.0)).build())
    val b = new TestClient(coordinator.getPort); b.hello(token, Role.WORKER, partition = 1)
    b.call(Envelope.newBuilder().setEpochMetrics(EpochMetrics.newBuilder().setEpoch(0).setSamples(10).putValues("loss", 3.0)).build())
    val h = a.call(Envelope.newBuilder().setHistoryRequest(HistoryRequest.getDefaultInstance).build()).getHistory
    assert(h.getEpochsCount == 1 && h.getEpochs(0).getValuesMap.get("loss") == 1.5 && h.getEpochs(0).getValuesMap.get("val_loss") == 2.0)
  }

  test("an unsupported optimizer in the job configuration is a clear error") {
    val driver = new TestClient(coordinator.getPort); driver.hello(token, Role.DRIVER)
    val r = driver.call(Envelope.newBuilder().setJobConfig(TestClient.config("asynchronous", Array(0f), rule = "adabelief")).build())
    assert(r.hasError && r.getError.getMessage.contains("supported: sgd, adam, adamax, nadam, rmsprop"))
  }
}
