package sparkeras.state

import scala.collection.mutable
import scala.jdk.CollectionConverters._

import sparkeras.wire.Wire.{EpochMetrics, History}

/** Per-epoch metrics from every worker, combined as means weighted by each worker's row count. */
final class EpochHistory {
  private final class Sums { var samples = 0L; val values = mutable.LinkedHashMap.empty[String, Double] }
  private val train = mutable.TreeMap.empty[Int, Sums]
  private val validation = mutable.TreeMap.empty[Int, Sums]

  def record(m: EpochMetrics): Unit = synchronized {
    add(train, m.getEpoch, m.getSamples, m.getValuesMap.asScala)
    if (m.getValSamples > 0) add(validation, m.getEpoch, m.getValSamples, m.getValValuesMap.asScala)
  }

  private def add(into: mutable.TreeMap[Int, Sums], epoch: Int, samples: Long, values: collection.Map[String, java.lang.Double]): Unit = {
    val s = into.getOrElseUpdate(epoch, new Sums)
    s.samples += samples
    values.foreach { case (k, v) => s.values(k) = s.values.getOrElse(k, 0.0) + v * samples }
  }

  def epochsRecorded: Int = synchronized(train.size)

  def latest(name: String): Option[Double] = synchronized {
    train.lastOption.flatMap { case (_, s) => s.values.get(name).map(_ / math.max(1L, s.samples)) }
  }

  def toProto: History = synchronized {
    val names = (train.values.flatMap(_.values.keys) ++ validation.values.flatMap(_.values.keys.map("val_" + _))).toSeq.distinct
    val b = History.newBuilder().addAllNames(names.asJava)
    train.foreach { case (epoch, s) =>
      val row = History.EpochRow.newBuilder()
      s.values.foreach { case (k, v) => row.putValues(k, v / s.samples) }
      validation.get(epoch).foreach(vs => vs.values.foreach { case (k, v) => row.putValues("val_" + k, v / vs.samples) })
      b.addEpochs(row)
    }
    b.build()
  }
}
