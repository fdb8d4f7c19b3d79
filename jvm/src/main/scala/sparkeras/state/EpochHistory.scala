package sparkeras.state

import scala.collection.mutable
import scala.jdk.CollectionConverters._

import sparkeras.wire.Wire.{EpochMetrics, History}

/**
 * Per-epoch metrics from every worker, combined as means weighted by each worker's row
 * count. A retried attempt's report for an epoch replaces its partition's earlier one.
 */
final class EpochHistory {
  private val reports = mutable.TreeMap.empty[Int, mutable.LinkedHashMap[Int, EpochMetrics]]
  // Asynchronous pushes per epoch: (count, sum of staleness, max staleness).
  private val staleness = mutable.TreeMap.empty[Int, Array[Long]]

  /** One asynchronous push of `epoch`, applied `updates` updates after the version it was computed on. */
  def recordStaleness(epoch: Int, updates: Long): Unit = synchronized {
    val s = staleness.getOrElseUpdate(epoch, new Array[Long](3))
    s(0) += 1; s(1) += updates; s(2) = math.max(s(2), updates)
  }

  /** Records a report; returns how many partitions have reported that epoch. */
  def record(partition: Int, m: EpochMetrics): Int = synchronized {
    val epoch = reports.getOrElseUpdate(m.getEpoch, mutable.LinkedHashMap.empty)
    epoch(partition) = m
    epoch.size
  }

  /** Staleness per epoch, as (epoch, pushes, sum, max), for checkpoints. */
  def stalenessRecords: Seq[(Int, Long, Long, Long)] = synchronized(staleness.toSeq.map { case (e, s) => (e, s(0), s(1), s(2)) })

  /** Puts back what `stalenessRecords` gave, from a checkpoint. */
  def restoreStaleness(epoch: Int, pushes: Long, sum: Long, max: Long): Unit = synchronized {
    staleness(epoch) = Array(pushes, sum, max)
  }

  /** Every report, as (partition, metrics), for checkpoints. */
  def all: Seq[(Int, EpochMetrics)] = synchronized(reports.values.flatMap(_.toSeq).toSeq)

  def epochsRecorded: Int = synchronized(reports.size)

  /** Means over the partitions that reported `epoch`: training metrics, or validation metrics (names prefixed "val_"). */
  private def means(epoch: Int, validation: Boolean): mutable.LinkedHashMap[String, Double] = {
    val sums = mutable.LinkedHashMap.empty[String, Double]
    var samples = 0L
    reports(epoch).values.foreach { m =>
      val (n, values) = if (validation) (m.getValSamples, m.getValValuesMap) else (m.getSamples, m.getValuesMap)
      if (n > 0) {
        samples += n
        values.asScala.foreach { case (k, v) => sums(k) = sums.getOrElse(k, 0.0) + v * n }
      }
    }
    sums.map { case (k, v) => (if (validation) "val_" + k else k) -> v / math.max(1L, samples) }
  }

  def latest(name: String): Option[Double] = synchronized {
    reports.lastOption.flatMap { case (epoch, _) => means(epoch, validation = false).get(name) }
  }

  def toProto: History = synchronized {
    val rows = reports.keys.toSeq.map(e => e -> (means(e, validation = false) ++ means(e, validation = true)))
    val b = History.newBuilder().addAllNames(rows.flatMap(_._2.keys).distinct.asJava)
    rows.foreach { case (e, r) =>
      val row = History.EpochRow.newBuilder().setEpoch(e).putAllValues(r.map { case (k, v) => k -> Double.box(v) }.asJava)
      staleness.get(e).foreach { s => row.setPushes(s(0)).setStalenessMean(s(1).toDouble / s(0)).setStalenessMax(s(2)) }
      b.addEpochs(row)
    }
    b.build()
  }
}
