package sparkeras.ml

import java.nio.{ByteBuffer, ByteOrder}

import com.google.protobuf.UnsafeByteOperations
import org.apache.spark.ml.linalg.SQLDataTypes.VectorType
import org.apache.spark.sql.{Column, DataFrame, Row}
import org.apache.spark.sql.functions.{array, col, flatten}
import org.apache.spark.sql.types._
import sparkeras.wire.Wire.{DType, DataBatch, Envelope, Tensor}

/**
 * The Spark ML column contract, as the Python stages have it (sparkeras/driver/columns.py):
 * features are a Vector, an array of numbers (nested arrays flattened) or a number, each
 * turned into array<float>; labels are a number (integral types as long, others as float),
 * a Vector or an array of numbers. Rows go to Python workers as DataBatch frames of raw bytes.
 */
object Rows {
  val batchRows = 4096

  private def field(df: DataFrame, name: String, role: String): StructField =
    df.schema.fields.find(_.name == name).getOrElse(throw new IllegalArgumentException(
      s"$role column '$name' is not in the DataFrame; its columns are ${df.columns.sorted.mkString(", ")}"))

  /** The column as a flat array<float>, checking that it exists and holds numbers. */
  def featureColumn(df: DataFrame, name: String): Column = field(df, name, "feature").dataType match {
    case VectorType => org.apache.spark.ml.functions.vector_to_array(col(name), "float32")
    case a: ArrayType if numericLeaf(a) =>
      var c = col(name); var t: DataType = a
      while (t.isInstanceOf[ArrayType] && t.asInstanceOf[ArrayType].elementType.isInstanceOf[ArrayType]) {
        c = flatten(c); t = t.asInstanceOf[ArrayType].elementType
      }
      c.cast("array<float>")
    case _: NumericType => array(col(name).cast("float"))
    case other => throw new IllegalArgumentException(
      s"feature column '$name' has type ${other.simpleString}; expected a Spark ML Vector, " +
        "an array of numbers (nested arrays for images or sequences) or a number")
  }

  def labelColumn(df: DataFrame, name: String): Column = field(df, name, "label").dataType match {
    case ByteType | ShortType | IntegerType | LongType => col(name).cast("long")
    case _: NumericType => col(name).cast("float")
    case VectorType => org.apache.spark.ml.functions.vector_to_array(col(name), "float32")
    case a: ArrayType if numericLeaf(a) => col(name).cast("array<float>")
    case other => throw new IllegalArgumentException(
      s"label column '$name' has type ${other.simpleString}; expected a number, a Vector or an array of numbers")
  }

  private def numericLeaf(a: ArrayType): Boolean = a.elementType match {
    case n: ArrayType => numericLeaf(n)
    case _: NumericType => true
    case _ => false
  }

  /**
   * A DataBatch of `rows`: one tensor per feature column (at `featureIndices`, shaped
   * [n] ++ its input shape), and the labels at `labelIndex` (-1: none).
   */
  def batch(rows: Seq[Row], featureIndices: Seq[Int], labelIndex: Int, inputShapes: Seq[Seq[Long]], last: Boolean): Envelope = {
    val b = DataBatch.newBuilder().setLast(last)
    if (rows.nonEmpty) {
      featureIndices.zip(inputShapes).foreach { case (index, shape) =>
        val width = shape.product.toInt
        val features = ByteBuffer.allocate(rows.size * width * 4).order(ByteOrder.LITTLE_ENDIAN)
        rows.foreach { r =>
          val values = r.getSeq[Float](index)
          if (values.size != width) throw new IllegalArgumentException(
            s"a row holds ${values.size} feature values but the model input expects shape ${shape.mkString("(", ", ", ")")}")
          values.foreach(features.putFloat)
        }
        b.addFeatures(tensor(features.array(), DType.FLOAT32, rows.size.toLong +: shape))
      }
      if (labelIndex >= 0) b.setLabels(labels(rows, labelIndex))
    }
    Envelope.newBuilder().setDataBatch(b).build()
  }

  private def labels(rows: Seq[Row], index: Int): Tensor = rows.head.get(index) match {
    case _: scala.collection.Seq[_] =>
      val k = rows.head.getSeq[Float](index).size
      val out = ByteBuffer.allocate(rows.size * k * 4).order(ByteOrder.LITTLE_ENDIAN)
      rows.foreach(r => r.getSeq[Float](index).foreach(out.putFloat))
      tensor(out.array(), DType.FLOAT32, Seq(rows.size.toLong, k.toLong))
    case _: java.lang.Long =>
      val out = ByteBuffer.allocate(rows.size * 8).order(ByteOrder.LITTLE_ENDIAN)
      rows.foreach(r => out.putLong(r.getLong(index)))
      tensor(out.array(), DType.INT64, Seq(rows.size.toLong))
    case _ =>
      val out = ByteBuffer.allocate(rows.size * 4).order(ByteOrder.LITTLE_ENDIAN)
      rows.foreach(r => out.putFloat(r.getFloat(index)))
      tensor(out.array(), DType.FLOAT32, Seq(rows.size.toLong))
  }

  private def tensor(bytes: Array[Byte], dtype: DType, shape: Seq[Long]): Tensor = {
    val t = Tensor.newBuilder().setDtype(dtype).setData(UnsafeByteOperations.unsafeWrap(bytes))
    shape.foreach(s => t.addShape(s))
    t.build()
  }

  def floats(t: Tensor): Array[Float] = {
    val fb = t.getData.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
    val out = new Array[Float](fb.remaining()); fb.get(out); out
  }
}
