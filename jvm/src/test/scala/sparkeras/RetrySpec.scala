package sparkeras

import org.scalatest.funsuite.AnyFunSuite
import sparkeras.wire.Wire._

/** Exactly-once steps when Spark retries a task or a barrier stage. */
class RetrySpec extends AnyFunSuite with CoordinatorFixture {
  private def worker(partition: Int, attempt: Int = 0): TestClient = {
    val c = new TestClient(coordinator.getPort)
    assert(c.hello(token, Role.WORKER, partition, attempt).hasAck)
    c
  }

  private def samples = coordinator.progress().split(" ")(0).toLong
  private def waitUntil(what: String)(p: => Boolean): Unit = {
    val deadline = System.currentTimeMillis() + 5000
    while (!p) { assert(System.currentTimeMillis() < deadline, s"timed out waiting for $what"); Thread.sleep(10) }
  }

  test("a retried asynchronous attempt resumes after the pushes already applied, and fences the old one") {
    configure(TestClient.config("asynchronous", Array(0f), params = Map("learning_rate" -> 1.0)))
    val first = worker(3)
    assert(first.join(100).getWelcome.getResumePushes == 0)
    (1 to 4).foreach(_ => assert(first.push(Array(1f), samples = 10).hasAck))
    // Spark retries the task while the first attempt still runs (a lost executor's orphan).
    val second = worker(3, attempt = 1)
    val w = second.join(100).getWelcome
    assert(w.getResumePushes == 4 && TestClient.floats(w.getWeights).toSeq == Seq(-4f))
    val refused = first.push(Array(1f), samples = 10)
    assert(refused.hasError && refused.getError.getMessage.contains("taken over by a later attempt"), refused)
    assert(first.fail(3, "ConnectionError", "refused").hasAck)
    assert(coordinator.failure() == null, "a superseded attempt's report is not the job's failure")
    assert(second.push(Array(1f), samples = 10).hasAck)
    assert(second.pull().toSeq == Seq(-5f) && samples == 50)
    // Another partition is independent.
    assert(worker(4).join(100).getWelcome.getResumePushes == 0)
  }

  test("a lost synchronous worker abandons the round; the retried stage resumes after the last completed round") {
    configure(TestClient.config("synchronous", Array(0f), params = Map("learning_rate" -> 1.0), workers = 2))
    val a = worker(0); val b = worker(1)
    val ja = new Thread(() => assert(a.join(20).getWelcome.getResumePushes == 0)); ja.start()
    assert(b.join(20).getWelcome.getStepsPerEpoch == 2); ja.join(5000)
    def round(x: TestClient, y: TestClient, vx: Float, vy: Float): (Envelope, Envelope) = {
      var rx: Envelope = null
      val t = new Thread(() => rx = x.push(Array(vx), want = true, samples = 10)); t.start()
      val ry = y.push(Array(vy), want = true, samples = 10); t.join(5000)
      (rx, ry)
    }
    round(a, b, 2f, 4f) // one completed round: 0 - mean(2, 4) = -3
    assert(samples == 20)
    // a contributes to round 2 and waits; b's process is killed.
    var waiting: Envelope = null
    val t = new Thread(() => waiting = a.push(Array(100f), want = true, samples = 10)); t.start()
    Thread.sleep(200)
    b.close()
    t.join(5000)
    assert(waiting != null && waiting.hasError && waiting.getError.getMessage.contains("partition 1 was lost"), waiting)
    assert(a.fail(0, "ServerError", waiting.getError.getMessage).hasAck)
    assert(coordinator.failure() == null, "the survivor's report must not cancel Spark's retry")
    a.close()
    waitUntil("both lost workers to be counted")(coordinator.progress().split(" ")(7) == "2")
    assert(samples == 20, "the abandoned round's samples are not counted")
    // Spark retries the barrier stage: both partitions join again and resume after round 1.
    val a2 = worker(0, attempt = 0); val b2 = worker(1, attempt = 0)
    var wa: Welcome = null
    val j2 = new Thread(() => wa = a2.join(20).getWelcome); j2.start()
    val wb = b2.join(20).getWelcome; j2.join(5000)
    assert(wa.getResumePushes == 1 && wb.getResumePushes == 1 && wb.getStepsPerEpoch == 2)
    assert(TestClient.floats(wb.getWeights).toSeq == Seq(-3f), "the abandoned round left the weights alone")
    val (ra, rb) = round(a2, b2, 1f, 3f)
    assert(TestClient.floats(ra.getWeights.getValues).toSeq == Seq(-5f) && TestClient.floats(rb.getWeights.getValues).toSeq == Seq(-5f))
    assert(samples == 40 && coordinator.progress().split(" ")(4) == "2")
  }

  test("a retried attempt's epoch metrics replace its partition's earlier report") {
    configure(TestClient.config("asynchronous", Array(0f)))
    val a = worker(0); a.join(10)
    val b = worker(1); b.join(30)
    a.metrics(0, 10, 1.0); b.metrics(0, 30, 2.0)
    val again = worker(0, attempt = 1); again.join(10)
    again.metrics(0, 10, 3.0)
    val d = new TestClient(coordinator.getPort); d.hello(token, Role.DRIVER)
    val h = d.call(Envelope.newBuilder().setHistoryRequest(HistoryRequest.getDefaultInstance).build()).getHistory
    assert(h.getEpochsCount == 1 && math.abs(h.getEpochs(0).getValuesMap.get("loss") - 2.25) < 1e-9, h)
  }

  test("connected workers are listed with their process ids") {
    configure(TestClient.config("asynchronous", Array(0f)))
    val c = new TestClient(coordinator.getPort)
    c.call(Envelope.newBuilder().setHello(Hello.newBuilder().setToken(com.google.protobuf.ByteString.copyFrom(token))
      .setRole(Role.WORKER).setPartition(2).setAttempt(1).setPid(4242)).build())
    assert(coordinator.workers() == """[{"partition":2,"attempt":1,"pid":4242}]""")
    c.close()
    waitUntil("the worker to leave")(coordinator.workers() == "[]")
  }

  test("non-trainable state is averaged by rows; a retried attempt's replaces the first's; NaN is refused") {
    configure(TestClient.config("asynchronous", Array(0f)))
    def state(c: TestClient, values: Array[Float], samples: Long): Envelope =
      c.call(Envelope.newBuilder().setWorkerState(WorkerState.newBuilder().setNonTrainable(TestClient.tensor(values))
        .setSamples(samples)).build())
    val a = worker(0); a.join(10); val b = worker(1); b.join(30)
    assert(state(a, Array(9f, 9f), 10).hasAck)
    val again = worker(0, attempt = 1); again.join(10)
    assert(state(again, Array(1f, 5f), 10).hasAck)
    assert(state(b, Array(3f, 1f), 30).hasAck)
    val nan = state(b, Array(Float.NaN, 1f), 30)
    assert(nan.hasError && nan.getError.getMessage.contains("NaN"), nan)
    val d = new TestClient(coordinator.getPort); d.hello(token, Role.DRIVER)
    val mean = d.call(Envelope.newBuilder().setStateRequest(StateRequest.getDefaultInstance).build()).getWorkerState
    assert(mean.getSamples == 40 && TestClient.floats(mean.getNonTrainable).toSeq == Seq(2.5f, 2f), mean)
  }
}
