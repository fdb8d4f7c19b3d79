package sparkeras.ml

import scala.reflect.ClassTag

import org.apache.spark.{BarrierTaskContext, SparkContext, TaskContext}
import org.apache.spark.rdd.RDD

/**
 * The Scala stages' launcher, with the same rules as the Python one (sparkeras/driver/stage.py):
 * how many workers, several partitions per worker, the task-slot check for barrier stages,
 * the barrier fallback, and the job tag the coordinator cancels on a worker's failure.
 */
object StageLauncher {
  private val barrierRefused = "Barrier execution mode does not allow"

  def planWorkers(sc: SparkContext, requested: Option[Int], barrier: Boolean): Int = {
    val workers = requested.getOrElse(sc.defaultParallelism)
    require(workers >= 1, s"numWorkers must be at least 1; got $workers")
    if (barrier) {
      val slots = math.max(1, sc.defaultParallelism / sc.getConf.getInt("spark.task.cpus", 1))
      require(workers <= slots, s"synchronous training runs one barrier task per worker, all at once: " +
        s"numWorkers=$workers but the cluster has $slots task slots. Lower numWorkers or add executors")
    }
    workers
  }

  /** Runs `work(partition, attempt, rows)` in `workers` tasks and collects what they return. */
  def run[T: ClassTag](data: RDD[org.apache.spark.sql.Row], workers: Int, barrier: Boolean, jobTag: String)(
      work: (Int, Int, Iterator[org.apache.spark.sql.Row]) => Iterator[T]): Array[T] = {
    val n = data.getNumPartitions
    val planned = if (n > workers && !barrier) data.coalesce(workers) else if (n != workers) data.repartition(workers) else data
    val sc = data.sparkContext
    sc.addJobTag(jobTag)
    try {
      try collect(planned, barrier, work)
      catch {
        case e: Exception if barrier && Option(e.getMessage).exists(_.contains(barrierRefused)) =>
          collect(data.repartition(workers), barrier, work)
      }
    } finally sc.removeJobTag(jobTag)
  }

  private def collect[T: ClassTag](rdd: RDD[org.apache.spark.sql.Row], barrier: Boolean,
      work: (Int, Int, Iterator[org.apache.spark.sql.Row]) => Iterator[T]): Array[T] =
    // The shuffle after the barrier stage makes it a map stage, which Spark retries as a whole
    // when a worker is lost (a failed barrier result stage is aborted); results are tiny.
    if (barrier) rdd.barrier().mapPartitions { rows =>
      val ctx = BarrierTaskContext.get(); work(ctx.partitionId(), ctx.attemptNumber(), rows)
    }.repartition(1).collect()
    else rdd.mapPartitions { rows =>
      val ctx = TaskContext.get(); work(ctx.partitionId(), ctx.attemptNumber(), rows)
    }.collect()
}
