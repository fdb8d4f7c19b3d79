package sparkeras.server

import java.security.MessageDigest

import scala.jdk.CollectionConverters._

import org.apache.hadoop.conf.Configuration
import org.apache.hadoop.fs.Path
import sparkeras.wire.Wire.{Checkpoint, JobConfig}

/**
 * Checkpoints of one training run in a directory on any Hadoop file system:
 * `checkpoint-<epochs done>.pb`, each written to a temporary name and renamed, so that a
 * driver killed mid-write leaves the previous checkpoint whole. Keeps the last `keep`.
 */
final class CheckpointStore(dir: String, keep: Int, hadoopConf: Configuration) {
  require(keep >= 1, s"keep must be at least 1, got $keep")
  private val root = new Path(dir)
  private val fs = root.getFileSystem(hadoopConf)
  private val Name = """checkpoint-(\d+)\.pb""".r

  private def epochsOf(p: Path): Option[Int] = p.getName match {
    case Name(n) => Some(n.toInt)
    case _ => None
  }

  /** The checkpoints present, oldest first. */
  def list(): Seq[(Int, Path)] =
    if (!fs.exists(root)) Nil
    else fs.listStatus(root).toSeq.map(_.getPath).flatMap(p => epochsOf(p).map(_ -> p)).sortBy(_._1)

  def latest(): Option[Checkpoint] = list().lastOption.map { case (_, p) =>
    val in = fs.open(p)
    try Checkpoint.parseFrom(in) finally in.close()
  }

  def write(cp: Checkpoint): Path = {
    fs.mkdirs(root)
    val target = new Path(root, f"checkpoint-${cp.getEpochsDone}%06d.pb")
    val tmp = new Path(root, s".${target.getName}.${System.nanoTime()}.tmp")
    val out = fs.create(tmp, true)
    try cp.writeTo(out) finally out.close()
    if (fs.exists(target)) fs.delete(target, false)
    if (!fs.rename(tmp, target)) throw new java.io.IOException(s"could not rename $tmp to $target")
    list().dropRight(keep).foreach { case (_, p) => fs.delete(p, false) }
    target
  }
}

object CheckpointStore {
  /**
   * What must match for a checkpoint to resume a job, as readable `key=value` pairs joined
   * by ';' (the model and compile configs by digest). Epochs may differ: a resumed run may
   * train for more of them.
   */
  def fingerprint(c: JobConfig): String = {
    def digest(s: String) = MessageDigest.getInstance("SHA-256").digest(s.getBytes("UTF-8")).take(8).map("%02x".format(_)).mkString
    val params = (c.getOptimizerParamsMap.asScala.toSeq.sortBy(_._1).map { case (k, v) => s"$k:$v" } ++
      (if (c.getNoWeightDecayCount == 0) Nil else Seq(s"no_weight_decay:${c.getNoWeightDecayList.asScala.mkString("/")}")))
      .mkString(",")
    val classWeight =
      if (c.getClassWeightCount == 0) Nil
      else Seq("class_weight" -> c.getClassWeightMap.asScala.toSeq.sortBy(_._1.intValue).map { case (k, v) => s"$k:$v" }.mkString(","))
    (Seq[(String, Any)]("mode" -> c.getMode, "frequency" -> c.getFrequency, "num_workers" -> c.getNumWorkers,
      "batch_size" -> c.getBatchSize, "communication_window" -> c.getCommunicationWindow,
      "validation_split" -> c.getValidationSplit, "optimizer" -> s"${c.getOptimizerClass}($params)",
      "shuffle" -> c.getShuffle, "seed" -> c.getSeed, "delta_scale" -> c.getDeltaScale,
      "model" -> digest(structure(c.getModelJson)), "compile" -> digest(structure(c.getCompileJson)),
      "trainable_sizes" -> c.getTrainableSizesList.asScala.mkString(",")) ++ classWeight ++
      (if (c.getInitialEpoch == 0) Nil else Seq("initial_epoch" -> c.getInitialEpoch)))
      .map { case (k, v) => s"$k=$v" }.mkString(";")
  }

  /**
   * A Keras config with its generated names ("dense_3", "adam_1") replaced by their order of
   * appearance, wherever they occur (functional models refer to layers by name): a model
   * built again in the same notebook, whose names differ, is the same job.
   */
  def structure(json: String): String = {
    import org.json4s._
    import org.json4s.jackson.JsonMethods
    val parsed = try JsonMethods.parse(json) catch { case _: Exception => return json } // not JSON: as it is
    val names = scala.collection.mutable.LinkedHashMap.empty[String, String]
    def collect(v: JValue): Unit = v match {
      case JObject(fields) => fields.foreach {
        case ("name", JString(n)) => names.getOrElseUpdate(n, s"#${names.size}")
        case (_, child) => collect(child)
      }
      case JArray(items) => items.foreach(collect)
      case _ => ()
    }
    collect(parsed)
    JsonMethods.compact(JsonMethods.render(parsed.transform { case JString(s) if names.contains(s) => JString(names(s)) }))
  }

  /** The fields in which two fingerprints differ, for the error a mismatched resume raises. */
  def differences(saved: String, current: String): Seq[String] = {
    def parse(f: String) = f.split(";").map(_.split("=", 2)).collect { case Array(k, v) => k -> v }.toMap
    val (a, b) = (parse(saved), parse(current))
    (a.keySet ++ b.keySet).toSeq.sorted.filter(k => a.get(k) != b.get(k))
      .map(k => s"$k: checkpoint ${a.getOrElse(k, "-")}, this fit ${b.getOrElse(k, "-")}")
  }
}
