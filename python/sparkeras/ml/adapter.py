"""elephas's DataFrame adapters, at the same module path."""
import numpy as np

from sparkeras.utils.rdd_utils import scalar_labels


def to_data_frame(sc, features, labels, categorical=False):
    """A DataFrame of (features: Vector, label: double) from numpy arrays; one-hot labels
    become class indices when `categorical`."""
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.getOrCreate()
    labels = scalar_labels(labels, categorical)
    rows = [(Vectors.dense(np.asarray(x, dtype=np.float64).ravel().tolist()), float(y))
            for x, y in zip(features, labels)]
    return spark.createDataFrame(rows, ["features", "label"])


def from_data_frame(df, categorical=False, nb_classes=None):
    """(features, labels) numpy arrays back from a DataFrame of features and label."""
    rows = df.select("features", "label").collect()
    features = np.asarray([r["features"].toArray() for r in rows], dtype=np.float32)
    labels = np.asarray([r["label"] for r in rows])
    if categorical:
        classes = nb_classes or int(labels.max()) + 1
        labels = np.eye(classes, dtype=np.float32)[labels.astype(int)]
    return features, labels


def df_to_simple_rdd(df, categorical=False, nb_classes=None, features_col="features", label_col="label"):
    """An RDD of (features, label) pairs, converted on the executors."""
    def convert(row):
        x = np.asarray(row[0].toArray() if hasattr(row[0], "toArray") else row[0], dtype=np.float32)
        y = row[1]
        if categorical:
            y = np.eye(nb_classes, dtype=np.float32)[int(y)]
        return x, y
    if categorical and not nb_classes:
        nb_classes = int(df.agg({label_col: "max"}).collect()[0][0]) + 1
    return df.select(features_col, label_col).rdd.map(convert)
