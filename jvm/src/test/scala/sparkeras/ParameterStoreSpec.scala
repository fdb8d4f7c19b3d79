package sparkeras

import java.util.concurrent.{CountDownLatch, Executors, TimeUnit}

import org.scalatest.funsuite.AnyFunSuite
import sparkeras.state._

class ParameterStoreSpec extends AnyFunSuite {
  test("many concurrent pushes under a lock lose no update and tear no weight vector") {
    val size = 10000
    val store = new ParameterStore(new Array[Float](size), DeltaMerge, locked = true)
    val threads = 8; val pushesEach = 500
    val pool = Executors.newFixedThreadPool(threads)
    val start = new CountDownLatch(1)
    @volatile var torn = false
    (0 until threads).foreach { _ =>
      pool.submit(new Runnable {
        def run(): Unit = {
          start.await()
          val ones = Array.fill(size)(1f)
          val snap = new Array[Float](size)
          (0 until pushesEach).foreach { i =>
            store.update(ones, 1f)
            if (i % 50 == 0) { store.snapshot(snap); if (snap.exists(_ != snap(0))) torn = true }
          }
        }
      })
    }
    start.countDown(); pool.shutdown(); assert(pool.awaitTermination(60, TimeUnit.SECONDS))
    val w = store.snapshot()
    assert(!torn, "a snapshot saw a half-applied update")
    assert(w.forall(_ == threads * pushesEach), s"expected ${threads * pushesEach} everywhere, got ${w.distinct.take(5).toSeq}")
    assert(store.version == threads * pushesEach)
  }

  test("synchronous rounds apply the mean once per round and release everyone with the same weights") {
    val store = new ParameterStore(Array(0f, 0f), DeltaMerge, locked = true)
    val agg = new SyncAggregator(store, 2)
    val results = new java.util.concurrent.ConcurrentLinkedQueue[(Long, Seq[Float])]()
    val t1 = new Thread(() => { agg.contribute(Array(2f, 4f), DeltaMerge, 1, 0); results.add(store.version -> store.snapshot().toSeq) })
    val t2 = new Thread(() => { agg.contribute(Array(4f, 8f), DeltaMerge, 1, 0); results.add(store.version -> store.snapshot().toSeq) })
    t1.start(); Thread.sleep(100)
    assert(store.version == 0, "the round must wait for the second worker")
    t2.start(); t1.join(5000); t2.join(5000)
    assert(results.size == 2 && results.toArray.toSeq.distinct.size == 1)
    assert(store.snapshot().toSeq == Seq(3f, 6f) && store.version == 1 && agg.rounds == 1)
  }

  test("a worker leaving completes a round the others are waiting on") {
    val store = new ParameterStore(Array(0f), DeltaMerge, locked = true)
    val agg = new SyncAggregator(store, 2)
    val t = new Thread(() => agg.contribute(Array(2f), DeltaMerge, 1, 0))
    t.start(); Thread.sleep(100); agg.leave(0); t.join(5000)
    assert(!t.isAlive && store.snapshot()(0) == 2f)
  }
}
