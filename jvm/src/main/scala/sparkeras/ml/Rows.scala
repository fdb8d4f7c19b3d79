package sparkeras.ml

import java.nio.{ByteBuffer, ByteOrder}

import com.google.protobuf.UnsafeByteOperations
import org.apache.spark.ml.linalg.SQLDataTypes.VectorType
import org.apache.spark.sql.{Column, DataFrame, Row}
import org.apache.spark.sql.functions.{col, flatten}
import org.apache.spark.sql.types._
import sparkeras.wire.Wire.{DType, DataBatch, Envelope, Tensor}

/** Feature and label columns to DataBatch frames: flat float arrays packed as raw bytes. */
object Rows {
  val batchRows = 4096

  /** The column as array<float>, checking that it exists and holds numbers. */
  def featureColumn(df: DataFrame, name: String): Column = {
    val field = df.schema.fields.find(_.name == name).getOrElse(throw new IllegalArgumentException(
      s"feature column '$name' is not in the DataFrame; its columns are ${df.columns.sorted.mkString(", ")}"))
    field.dataType match {
      case VectorType => org.apache.spark.ml.functions.vector_to_array(col(name), "float32")
      case a: ArrayType if numericLeaf(a) =>
        var c = col(name); var t: DataType = a
        while (t.isInstanceOf[ArrayType] && t.asInstanceOf[ArrayType].elementType.isInstanceOf[ArrayType]) {
          c = flatten(c); t = t.asInstanceOf[ArrayType].elementType
        }
        c.cast("array<float>")
      case other => throw new IllegalArgumentException(
        s"feature column '$name' has type ${other.simpleString}; expected a Vector or an array of numbers")
    }
  }

  def labelColumn(df: DataFrame, name: String): Column = {
    val field = df.schema.fields.find(_.name == name).getOrElse(throw new IllegalArgumentException(
      s"label column '$name' is not in the DataFrame; its columns are ${df.columns.sorted.mkString(", ")}"))
    field.dataType match {
      case _: NumericType => col(name).cast("float")
      case VectorType => org.apache.spark.ml.functions.vector_to_array(col(name), "float32")
      case a: ArrayType if numericLeaf(a) => col(name).cast("array<float>")
      case other => throw new IllegalArgumentException(
        s"label column '$name' has type ${other.simpleString}; expected a number, a Vector or an array of numbers")
    }
  }

  private def numericLeaf(a: ArrayType): Boolean = a.elementType match {
    case n: ArrayType => numericLeaf(n)
    case _: NumericType => true
    case _ => false
  }

  /** A DataBatch of `rows` (features at `featureIndex`, labels at `labelIndex` or -1), shaped [n] ++ inputShape. */
  def batch(rows: Seq[Row], featureIndex: Int, labelIndex: Int, inputShape: Seq[Long], last: Boolean): Envelope = {
    val width = inputShape.product.toInt
    val features = ByteBuffer.allocate(rows.size * width * 4).order(ByteOrder.LITTLE_ENDIAN)
    rows.foreach { r =>
      val values = r.getSeq[Float](featureIndex)
      if (values.size != width) throw new IllegalArgumentException(
        s"a row holds ${values.size} feature values but the model input expects shape ${inputShape.mkString("(", ", ", ")")}")
      values.foreach(features.putFloat)
    }
    val b = DataBatch.newBuilder().setLast(last)
    if (rows.nonEmpty) b.addFeatures(tensor(features.array(), rows.size.toLong +: inputShape))
    if (labelIndex >= 0 && rows.nonEmpty) {
      val first = rows.head.get(labelIndex)
      first match {
        case _: scala.collection.Seq[_] =>
          val k = rows.head.getSeq[Float](labelIndex).size
          val labels = ByteBuffer.allocate(rows.size * k * 4).order(ByteOrder.LITTLE_ENDIAN)
          rows.foreach(r => r.getSeq[Float](labelIndex).foreach(labels.putFloat))
          b.setLabels(tensor(labels.array(), Seq(rows.size.toLong, k.toLong)))
        case _ =>
          val labels = ByteBuffer.allocate(rows.size * 4).order(ByteOrder.LITTLE_ENDIAN)
          rows.foreach(r => labels.putFloat(r.getFloat(labelIndex)))
          b.setLabels(tensor(labels.array(), Seq(rows.size.toLong)))
      }
    }
    Envelope.newBuilder().setDataBatch(b).build()
  }

  private def tensor(bytes: Array[Byte], shape: Seq[Long]): Tensor = {
    val t = Tensor.newBuilder().setDtype(DType.FLOAT32).setData(UnsafeByteOperations.unsafeWrap(bytes))
    shape.foreach(s => t.addShape(s))
    t.build()
  }

  def floats(t: Tensor): Array[Float] = {
    val fb = t.getData.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
    val out = new Array[Float](fb.remaining()); fb.get(out); out
  }

}
