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
