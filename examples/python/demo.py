"""Demo: train a Keras MLP on Spark with sparkeras and report its test accuracy.

Uses scikit-learn's bundled handwritten digits (8x8 images, 1,797 rows), or MNIST
when given --mnist DIR (a folder with the four IDX files, gzipped or not).

    python examples/python/demo.py [--mode asynchronous] [--frequency epoch] [--epochs 20]
"""
import argparse
import gzip
import os
import time


def load_digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    return train_test_split(x, digits.target, test_size=0.25, random_state=0, stratify=digits.target)


def load_mnist(folder, train=True):
    """(x_train, x_test, y_train, y_test) from MNIST's IDX files; the training pair is None
    with train=False."""
    import numpy as np

    def read(name):
        path = os.path.join(folder, name)
        opener = gzip.open if os.path.exists(path + ".gz") else open
        with opener(path + ".gz" if os.path.exists(path + ".gz") else path, "rb") as f:
            data = f.read()
        if data[2] == 8 and data[3] == 3:
            n, rows, cols = np.frombuffer(data[4:16], dtype=">u4")
            return np.frombuffer(data[16:], dtype=np.uint8).reshape(n, rows * cols).astype("float32") / 255.0
        return np.frombuffer(data[8:], dtype=np.uint8).astype("int64")
    return (read("train-images.idx3-ubyte") if train else None, read("t10k-images.idx3-ubyte"),
            read("train-labels.idx1-ubyte") if train else None, read("t10k-labels.idx1-ubyte"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="asynchronous", choices=["synchronous", "asynchronous", "hogwild"])
    parser.add_argument("--frequency", default="epoch", choices=["epoch", "batch"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mnist", metavar="DIR", help="train on MNIST from this folder instead of digits")
    args = parser.parse_args()

    import sparkeras  # before keras: sparkeras keeps TensorFlow's start-up lines off the console
    import keras
    from sparkeras import SparkModel, to_simple_rdd

    spark = sparkeras.spark_session(f"local[{args.workers}]", "sparkeras-demo", local_only=True,
                                    spark_ui_enabled="false")
    spark.sparkContext.setLogLevel("ERROR")
    x_train, x_test, y_train, y_test = load_mnist(args.mnist) if args.mnist else load_digits_split()
    features = x_train.shape[1]
    print(f"data: {len(x_train)} training rows, {len(x_test)} test rows, {features} features")

    model = keras.Sequential([
        keras.Input((features,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    rdd = to_simple_rdd(spark.sparkContext, x_train, y_train, num_partitions=args.workers)
    spark_model = SparkModel(model, mode=args.mode, frequency=args.frequency, num_workers=args.workers)
    started = time.time()
    history = spark_model.fit(rdd, epochs=args.epochs, batch_size=args.batch_size, verbose=1, validation_split=0.1)
    seconds = time.time() - started
    print(f"trained {args.epochs} epochs in {seconds:.1f}s ({args.mode}/{args.frequency}, {args.workers} workers); "
          f"last epoch: loss {history.history['loss'][-1]:.4f}, val_accuracy {history.history['val_accuracy'][-1]:.4f}")

    loss, accuracy = spark_model.evaluate(x_test, y_test)
    print(f"test accuracy: {accuracy:.4f} (loss {loss:.4f}), evaluated on the executors")
    spark.stop()


if __name__ == "__main__":
    main()
