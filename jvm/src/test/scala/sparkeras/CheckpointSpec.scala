package sparkeras

import java.nio.file.Files

import org.scalatest.funsuite.AnyFunSuite
import sparkeras.server.Coordinator
import sparkeras.wire.Wire._

/** Checkpoints at epoch boundaries, and a new job resumed from one. */
class CheckpointSpec extends AnyFunSuite {
  private def tokenOf(c: Coordinator) = c.getToken.grouped(2).map(Integer.parseInt(_, 16).toByte).toArray

  private def started(config: JobConfig): Coordinator = {
    val c = new Coordinator("127.0.0.1", 1 << 20)
    val driver = new TestClient(c.getPort)
    assert(driver.hello(tokenOf(c), Role.DRIVER).hasAck)
    assert(driver.call(Envelope.newBuilder().setJobConfig(config).build()).hasAck)
    c
  }

  private def worker(c: Coordinator, partition: Int): TestClient = {
    val w = new TestClient(c.getPort); assert(w.hello(tokenOf(c), Role.WORKER, partition).hasAck); w
  }

  private val adam = TestClient.config("asynchronous", Array(1f, -1f), rule = "adam",
    params = Map("learning_rate" -> 0.1), workers = 2).toBuilder.setSeed(77).build()

  test("an epoch every partition reported is checkpointed; a new job resumes weights, optimizer, progress and history") {
    val dir = Files.createTempDirectory("sparkeras-ckpt").toString
    val first = started(adam)
    try {
      assert(first.useCheckpoints(dir, 1, 2, true) == 0)
      val a = worker(first, 0); val b = worker(first, 1)
      a.join(10); b.join(10)
      (1 to 3).foreach(_ => a.push(Array(0.5f, 0.25f)))
      b.push(Array(-1f, 2f))
      def state(c: TestClient, values: Array[Float], samples: Long): Envelope = c.call(Envelope.newBuilder()
        .setWorkerState(WorkerState.newBuilder().setNonTrainable(TestClient.tensor(values)).setSamples(samples)).build())
      assert(state(a, Array(1f, 3f), 10).hasAck && state(b, Array(3f, 5f), 30).hasAck)
      a.metrics(0, 10, 1.5)
      assert(first.latestCheckpoint(dir) == null, "epoch 0 is not complete until both partitions report")
      b.metrics(0, 10, 2.5)
      assert(first.latestCheckpoint(dir).contains("\"epochs_done\":1"), first.latestCheckpoint(dir))
      assert(first.latestCheckpoint(dir).contains("\"seed\":77"))
      a.metrics(1, 10, 1.0); b.metrics(1, 10, 1.0)
      a.metrics(2, 10, 0.5); b.metrics(2, 10, 0.5)
      val names = new java.io.File(dir).list().filterNot(_.startsWith(".")).sorted.toSeq  // Hadoop keeps .crc files beside them
      assert(names == Seq("checkpoint-000002.pb", "checkpoint-000003.pb"), s"keeps the last two: $names")
      // The original job goes on with one more push; the resumed one must do the same arithmetic.
      val expected = { a.push(Array(0.1f, 0.1f)); a.pull() }

      val second = started(adam.toBuilder.setEpochs(20).build()) // more epochs is the same job
      try {
        assert(second.useCheckpoints(dir, 1, 2, true) == 3)
        val a2 = worker(second, 0)
        val w = a2.join(10).getWelcome
        assert(w.getResumePushes == 3, "partition 0 had three pushes applied")
        assert(TestClient.floats(w.getResumedState.getNonTrainable).toSeq == Seq(2.5f, 4.5f),
          "workers start from the checkpointed statistics")
        val b2 = worker(second, 1)
        assert(b2.join(10).getWelcome.getResumePushes == 1)
        assert(a2.push(Array(0.1f, 0.1f), want = true).hasWeights)
        assert(a2.pull().toSeq == expected.toSeq, "Adam's moments and step count were restored")
        val d = new TestClient(second.getPort); d.hello(tokenOf(second), Role.DRIVER)
        val h = d.call(Envelope.newBuilder().setHistoryRequest(HistoryRequest.getDefaultInstance).build()).getHistory
        assert(h.getEpochsCount == 3 && h.getEpochs(0).getValuesMap.get("loss") == 2.0, h)
        // staleness restored: four pushes of staleness 0, 1, 2, 3, then the resumed job's fifth, 4 updates stale
        val e0 = h.getEpochs(0)
        assert((e0.getPushes, e0.getStalenessMean, e0.getStalenessMax) == (5L, 2.0, 4L), e0)
        // BatchNormalization-style state restored: the row-weighted mean (1*10 + 3*30)/40, (3*10 + 5*30)/40
        val mean = d.call(Envelope.newBuilder().setStateRequest(StateRequest.getDefaultInstance).build()).getWorkerState
        assert(TestClient.floats(mean.getNonTrainable).toSeq == Seq(2.5f, 4.5f) && mean.getSamples == 40, mean)
      } finally second.stop()
    } finally first.stop()
  }

  test("a checkpoint of another job is refused with what differs") {
    val dir = Files.createTempDirectory("sparkeras-ckpt").toString
    val first = started(adam)
    try {
      first.useCheckpoints(dir, 1, 3, false)
      val a = worker(first, 0); val b = worker(first, 1); a.join(5); b.join(5)
      a.metrics(0, 5, 1.0); b.metrics(0, 5, 1.0)
    } finally first.stop()
    val other = started(adam.toBuilder.setBatchSize(64).build())
    try {
      val e = intercept[IllegalArgumentException](other.useCheckpoints(dir, 1, 3, true))
      assert(e.getMessage.contains("batch_size: checkpoint 10, this fit 64") && e.getMessage.contains("resume=False"), e.getMessage)
      assert(other.useCheckpoints(dir, 1, 3, false) == 0, "resume=false starts afresh")
    } finally other.stop()
  }
}
