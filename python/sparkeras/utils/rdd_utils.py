"""RDD helpers with elephas's names."""
import numpy as np


def to_simple_rdd(sc, features, labels, num_partitions=None):
    """An RDD of (features, label) pairs. Rows are cut into blocks on the driver and
    split into pairs on the executors, so nothing is pickled row by row here."""
    features = np.asarray(features)
    labels = np.asarray(labels)
    if len(features) != len(labels):
        raise ValueError(f"features have {len(features)} rows but labels have {len(labels)}")
    n = max(1, min(len(features), num_partitions or sc.defaultParallelism))
    blocks = list(zip(np.array_split(features, n), np.array_split(labels, n)))
    return sc.parallelize(blocks, n).flatMap(lambda block: zip(block[0], block[1]))


def encode_label(label, nb_classes):
    """A one-hot vector of length `nb_classes` for class index `label`."""
    encoded = np.zeros(nb_classes, dtype=np.float32)
    encoded[int(label)] = 1.0
    return encoded


def scalar_labels(labels, categorical):
    """One number per row: one-hot rows become class indices when `categorical`, and a
    column of shape (n, 1) becomes shape (n,) (numpy 2 refuses float() of a 1-element array)."""
    labels = np.asarray(labels)
    if categorical and labels.ndim > 1 and labels.shape[-1] > 1:
        return labels.argmax(axis=-1)
    if labels.ndim == 2 and labels.shape[1] == 1:
        return labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"labels of shape {labels.shape} are not one number per row; give class indices, one-hot "
                         "rows with categorical=True, or a column of shape (n,) or (n, 1)")
    return labels


def to_labeled_point(sc, features, labels, categorical=False):
    """An RDD of MLlib LabeledPoints; one-hot labels become class indices when `categorical`."""
    from pyspark.mllib.regression import LabeledPoint
    features = np.asarray(features, dtype=np.float64)
    labels = scalar_labels(labels, categorical)
    n = max(1, min(len(features), sc.defaultParallelism))
    blocks = list(zip(np.array_split(features, n), np.array_split(labels, n)))
    return sc.parallelize(blocks, n).flatMap(
        lambda block: [LabeledPoint(float(y), x.ravel()) for x, y in zip(block[0], block[1])])


def from_labeled_point(rdd, categorical=False, nb_classes=None):
    """(features, labels) numpy arrays collected from an RDD of LabeledPoints."""
    points = rdd.collect()
    features = np.asarray([p.features.toArray() for p in points], dtype=np.float32)
    labels = np.asarray([p.label for p in points])
    if categorical:
        nb_classes = nb_classes or int(labels.max()) + 1
        labels = np.stack([encode_label(y, nb_classes) for y in labels])
    return features, labels


def lp_to_simple_rdd(lp_rdd, categorical=False, nb_classes=None):
    """An RDD of (features, label) pairs from LabeledPoints, converted on the executors."""
    if categorical and not nb_classes:
        nb_classes = int(lp_rdd.map(lambda p: p.label).max()) + 1

    def convert(point):
        x = point.features.toArray().astype(np.float32)
        return (x, encode_label(point.label, nb_classes)) if categorical else (x, point.label)
    return lp_rdd.map(convert)
