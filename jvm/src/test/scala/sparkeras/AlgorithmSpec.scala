package sparkeras

import java.util.concurrent.{CountDownLatch, Executors, TimeUnit}

import scala.jdk.CollectionConverters._

import org.scalatest.funsuite.AnyFunSuite
import sparkeras.state._
import sparkeras.wire.Wire._

/** The server's side of the distributed algorithms (JobConfig.algorithm), against their formulas. */
class AlgorithmSpec extends AnyFunSuite with CoordinatorFixture {

  private def close(a: Seq[Float], b: Seq[Double], tol: Double = 1e-6): Boolean =
    a.size == b.size && a.zip(b).forall { case (x, y) => math.abs(x - y) <= tol * math.max(1.0, math.abs(y)) }

  test("DOWNPOUR, AGN, AEASGD and EAMSGD add the pushed change: w + scale * d") {
    Seq("", "downpour", "agn", "aeasgd", "eamsgd", "averaging").foreach { name =>
      val rule = AlgorithmMerge.create(name, Map.empty)
      val w = Array(1f, -2f, 0.5f)
      rule.applyPush(w, Array(0.5f, 1f, -4f), 0.25f, staleness = 7, pulled = null)
      assert(close(w.toSeq, Seq(1.125, -1.75, -0.5)), s"$name: ${w.toSeq}")
    }
  }

  test("DynSGD divides the change by staleness + 1") {
    // staleness 0: the whole change; 3: a quarter of it
    val w = Array(1f, 2f)
    DynSgdMerge.applyPush(w, Array(4f, -8f), 1f, staleness = 0, pulled = null)
    assert(close(w.toSeq, Seq(5.0, -6.0)))
    DynSgdMerge.applyPush(w, Array(4f, -8f), 1f, staleness = 3, pulled = null)
    assert(close(w.toSeq, Seq(6.0, -8.0)))
    DynSgdMerge.applyPush(w, Array(4f, -8f), 0.5f, staleness = 1, pulled = null)
    assert(close(w.toSeq, Seq(7.0, -10.0)))
  }

  test("ADAG scales each element by 1 / ((w - w_pulled)^2 / gamma + 1)") {
    val gamma = 1e-2
    val rule = AlgorithmMerge.create("adag", Map("gamma" -> gamma))
    val w = Array(1.0f, 1.0f, 1.0f, 0.0f)
    val pulled = Array(1.0f, 0.9f, 0.8f, 0.0f) // moved 0, 0.1, 0.2, 0 since the worker's pull
    val d = Array(0.5f, 0.5f, 0.5f, -0.3f)
    rule.applyPush(w, d, 1f, staleness = 2, pulled = pulled)
    // element 1: 0.1^2 / 0.01 = 1 -> factor 1/2; element 2: 0.04 / 0.01 = 4 -> factor 1/5
    assert(close(w.toSeq, Seq(1.5, 1.25, 1.1, -0.3)), w.toSeq)
    // with scale: the factor multiplies scale * d
    val w2 = Array(1.0f); rule.applyPush(w2, Array(1f), 0.5f, 0, Array(0.9f))
    assert(close(w2.toSeq, Seq(1.25)), w2.toSeq)
  }

  test("the store computes staleness under its lock and hands it to the rule") {
    val seen = scala.collection.mutable.ArrayBuffer.empty[Long]
    val recording = new UpdateRule {
      val name = "recording"
      def apply(w: Array[Float], d: Array[Float], scale: Float): Unit = ()
      override def applyPush(w: Array[Float], d: Array[Float], scale: Float, staleness: Long, pulled: Array[Float]): Unit =
        seen += staleness
    }
    val store = new ParameterStore(Array(0f), recording, locked = true)
    assert(store.push(Array(1f), 1f, recording, baseVersion = 0, null) == 0)
    assert(store.push(Array(1f), 1f, recording, baseVersion = 0, null) == 1)
    assert(store.push(Array(1f), 1f, recording, baseVersion = 0, null) == 2)
    assert(store.push(Array(1f), 1f, recording, baseVersion = 3, null) == 0)
    assert(seen.toSeq == Seq(0L, 1L, 2L, 0L) && store.version == 4)
  }

  test("DynSGD under contention: every push is applied once, scaled by the staleness it was given") {
    // Every push is 1 at base version 0, so push k (0-based, in lock order) adds 1 / (k + 1):
    // the result is the harmonic number H(n) whatever the interleaving.
    val store = new ParameterStore(Array(0f, 0f), DynSgdMerge, locked = true)
    val threads = 8; val each = 50
    val pool = Executors.newFixedThreadPool(threads)
    val start = new CountDownLatch(1)
    val staleness = new java.util.concurrent.ConcurrentLinkedQueue[Long]()
    (0 until threads).foreach { _ =>
      pool.submit(new Runnable {
        def run(): Unit = { start.await(); (0 until each).foreach(_ => staleness.add(store.push(Array(1f, 2f), 1f, DynSgdMerge, 0, null))) }
      })
    }
    start.countDown(); pool.shutdown(); assert(pool.awaitTermination(60, TimeUnit.SECONDS))
    val n = threads * each
    assert(staleness.asScala.toSeq.sorted == (0L until n.toLong), "each push must see a distinct staleness 0..n-1")
    val harmonic = (1 to n).map(1.0 / _).sum
    val w = store.snapshot()
    assert(math.abs(w(0) - harmonic) < 1e-3 && math.abs(w(1) - 2 * harmonic) < 2e-3, w.toSeq)
    assert(store.version == n)
  }

  test("ADAG under contention: concurrent pushes lose no update and read a consistent pulled copy") {
    // Each worker pulls 0 and pushes 1 once: with gamma huge the factors are all ~1, so the sum is exact.
    val rule = AlgorithmMerge.create("adag", Map("gamma" -> 1e12))
    val size = 1000
    val store = new ParameterStore(new Array[Float](size), rule, locked = true)
    val threads = 8; val each = 100
    val pool = Executors.newFixedThreadPool(threads)
    val start = new CountDownLatch(1)
    (0 until threads).foreach { _ =>
      pool.submit(new Runnable {
        def run(): Unit = {
          start.await()
          val pulled = new Array[Float](size)
          val bytes = new Array[Byte](size * 4)
          (0 until each).foreach { _ =>
            val base = store.snapshotBytes(bytes, 0, pulled)
            assert(pulled.forall(_ == pulled(0)), "the pulled copy saw a half-applied update")
            store.push(Array.fill(size)(1f), 1f, rule, base, pulled)
          }
        }
      })
    }
    start.countDown(); pool.shutdown(); assert(pool.awaitTermination(60, TimeUnit.SECONDS))
    assert(store.snapshot().forall(v => math.abs(v - threads * each) < 1e-2), store.snapshot().take(3).toSeq)
  }

  test("over the wire: ADAG keeps what each worker pulled, and staleness per epoch reaches the history") {
    val config = TestClient.config("asynchronous", Array(0f, 0f), rule = "delta", workers = 2).toBuilder
      .setAlgorithm("adag").putAlgorithmParams("gamma", 0.01).setDeltaScale(1.0).build()
    configure(config)
    val a = new TestClient(coordinator.getPort); a.hello(token, Role.WORKER, partition = 0); val wa = a.join(10).getWelcome
    val b = new TestClient(coordinator.getPort); b.hello(token, Role.WORKER, partition = 1); b.join(10)
    def push(c: TestClient, d: Array[Float], base: Long, epoch: Int): Envelope =
      c.call(Envelope.newBuilder().setPush(Push.newBuilder().setKind(PushKind.DELTA).setValues(TestClient.tensor(d))
        .setWantWeights(true).setBaseVersion(base).setSamples(1).setEpoch(epoch)).build())
    // a pushes first (nothing moved since its pull): added whole
    val r1 = push(a, Array(0.1f, 0f), wa.getVersion, 0)
    assert(close(TestClient.floats(r1.getWeights.getValues).toSeq, Seq(0.1, 0.0)))
    // b pulled the initial weights; element 0 moved 0.1 since: 0.01/0.01 = 1 -> half of b's change
    val r2 = push(b, Array(0.2f, 0.2f), 0, 0)
    assert(close(TestClient.floats(r2.getWeights.getValues).toSeq, Seq(0.2, 0.2)), TestClient.floats(r2.getWeights.getValues).toSeq)
    // a's copy is what its last reply held (0.1, 0); a pushes again in epoch 1, two updates stale... one update since its reply
    val r3 = push(a, Array(0.1f, 0.1f), r1.getWeights.getVersion, 1)
    // moved since a's pull: (0.1, 0.2) -> factors 1/2 and 1/5
    assert(close(TestClient.floats(r3.getWeights.getValues).toSeq, Seq(0.25, 0.22)), TestClient.floats(r3.getWeights.getValues).toSeq)
    a.metrics(0, 10, 1.0); b.metrics(0, 10, 1.0); a.metrics(1, 10, 1.0); b.metrics(1, 10, 1.0)
    val driver = new TestClient(coordinator.getPort); driver.hello(token, Role.DRIVER)
    val rows = driver.call(Envelope.newBuilder().setHistoryRequest(HistoryRequest.getDefaultInstance).build()).getHistory.getEpochsList.asScala
    assert(rows.map(r => (r.getEpoch, r.getPushes, r.getStalenessMean, r.getStalenessMax)) == Seq((0, 2L, 0.5, 1L), (1, 1L, 1.0, 1L)))
  }

  test("the ensemble keeps each partition's trained model, a retried attempt's replacing the first's") {
    val config = TestClient.config("asynchronous", Array(0f, 0f), rule = "delta", workers = 2).toBuilder.setAlgorithm("ensemble").build()
    configure(config)
    def member(c: TestClient, w: Array[Float]): Envelope =
      c.call(Envelope.newBuilder().setWorkerState(WorkerState.newBuilder().setTrainable(TestClient.tensor(w)).setSamples(10)).build())
    val a = new TestClient(coordinator.getPort); a.hello(token, Role.WORKER, partition = 0); a.join(10)
    val b = new TestClient(coordinator.getPort); b.hello(token, Role.WORKER, partition = 1); b.join(10)
    assert(member(a, Array(1f, 2f)).hasAck && member(b, Array(3f, 4f)).hasAck)
    val bad = member(b, Array(1f))
    assert(bad.hasError && bad.getError.getMessage.contains("member's weights have 1 values"))
    val retry = new TestClient(coordinator.getPort); retry.hello(token, Role.WORKER, partition = 0, attempt = 1); retry.join(10)
    assert(member(retry, Array(5f, 6f)).hasAck)
    assert(member(a, Array(9f, 9f)).hasAck) // the superseded attempt's model is ignored
    val driver = new TestClient(coordinator.getPort); driver.hello(token, Role.DRIVER)
    val members = driver.call(Envelope.newBuilder().setMembersRequest(MembersRequest.getDefaultInstance).build()).getMembers
    assert(members.getMembersList.asScala.map(m => m.getPartition -> TestClient.floats(m.getTrainable).toSeq) ==
      Seq(0 -> Seq(5f, 6f), 1 -> Seq(3f, 4f)))
    assert(driver.pull().toSeq == Seq(0f, 0f), "an ensemble's members never move the centre")
  }

  test("an algorithm in synchronous mode, or an unknown one, is refused with a clear error") {
    val driver = new TestClient(coordinator.getPort); driver.hello(token, Role.DRIVER)
    val sync = driver.call(Envelope.newBuilder().setJobConfig(
      TestClient.config("synchronous", Array(0f)).toBuilder.setAlgorithm("adag")).build())
    assert(sync.hasError && sync.getError.getMessage.contains("adag algorithm runs in the asynchronous and hogwild modes"))
    val unknown = driver.call(Envelope.newBuilder().setJobConfig(
      TestClient.config("asynchronous", Array(0f)).toBuilder.setAlgorithm("easgd")).build())
    assert(unknown.hasError && unknown.getError.getMessage.contains("no algorithm 'easgd'; supported: downpour, agn, adag"))
  }
}
