"""Transfer learning on image files in a Spark ML Pipeline, with no download: writes a folder
of 64x64 colour PNG images (scikit-learn's 8x8 digits, upscaled, on random colours),
pretrains a small CNN on the digits 0-4 only, then reads the folder with Spark's `image`
source and trains `DeepImageFeaturizer` (the CNN cut before its classifier) + Spark ML's
LogisticRegression on all ten digits; saves and reloads the pipeline, and asks SQL.

    python image_transfer_learning.py [folder]
"""
import os
import sys
import tempfile

import sparkeras  # before keras: keeps TensorFlow's start-up lines off the console
import numpy as np

SIZE = 64


def digit_images(size=SIZE, seed=0):
    """(images uint8 (n, size, size, 3), labels, is_test): each digit upscaled, its strokes and
    background in random colours (dark on light), so that only the shape tells the class."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    rng = np.random.default_rng(seed)
    out = np.empty((len(d.images), size, size, 3), dtype=np.uint8)
    for i, digit in enumerate(d.images):
        grey = np.asarray(Image.fromarray((digit * 255 / 16).astype(np.uint8)).resize((size, size), Image.BILINEAR),
                          dtype=np.float32)[..., None] / 255
        ink, paper = rng.integers(0, 110, 3), rng.integers(146, 256, 3)  # dark strokes on light paper
        out[i] = (grey * ink + (1 - grey) * paper).astype(np.uint8)
    _, test_index = train_test_split(np.arange(len(out)), test_size=0.25, random_state=0, stratify=d.target)
    is_test = np.zeros(len(out), dtype=bool)
    is_test[test_index] = True
    return out, d.target.astype(np.int64), is_test


def write_images(folder, size=SIZE):
    """Writes every digit as <folder>/<train|test>/<index>_<label>.png; returns (images, labels, is_test)."""
    from PIL import Image
    images, labels, is_test = digit_images(size)
    for split in ("train", "test"):
        os.makedirs(os.path.join(folder, split), exist_ok=True)
    for i, (image, label, test) in enumerate(zip(images, labels, is_test)):
        Image.fromarray(image).save(os.path.join(folder, "test" if test else "train", f"{i:04d}_{label}.png"))
    return images, labels, is_test


def base_cnn(size=SIZE, classes=5, seed=0):
    """A small CNN for (size, size, 3) RGB images with values 0-255 (it rescales them itself)."""
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((size, size, 3)),
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
        keras.layers.Flatten(),  # where the strokes are matters for digits
        keras.layers.Dense(64, activation="relu", name="embedding"),
        keras.layers.Dense(classes, activation="softmax", name="classifier"),
    ])
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def pretrain(images, labels, is_test, path, epochs=30):
    """The base network: trained on the digits 0-4 of the training split only, saved to `path`."""
    keep = (~is_test) & (labels < 5)
    model = base_cnn()
    model.fit(images[keep].astype(np.float32), labels[keep], epochs=epochs, batch_size=32, verbose=0)
    model.save(path)
    return model


def read_images(spark, folder):
    """The PNG folder through Spark's image source, with each file's label and split from its name."""
    from pyspark.sql import functions as F
    # many small files: Spark would make a partition of every ~32; a few partitions suit 2 cores
    frame = spark.read.format("image").option("recursiveFileLookup", "true").load(folder).coalesce(4)
    origin = F.col("image.origin")
    return (frame.withColumn("label", F.regexp_extract(origin, r"_(\d)\.png$", 1).cast("double"))
            .withColumn("split", F.regexp_extract(origin, r"/(train|test)/", 1)))


def main(folder=None):
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.classification import LogisticRegression
    from sparkeras.ml import DeepImageFeaturizer, register_image_udf

    work = tempfile.mkdtemp(prefix="sparkeras-images-")
    folder = folder or os.path.join(work, "digits")
    images, labels, is_test = write_images(folder)
    print(f"wrote {len(images)} {SIZE}x{SIZE} PNG images under {folder}")
    base_file = os.path.join(work, "base_cnn.keras")
    pretrain(images, labels, is_test, base_file)

    spark = sparkeras.spark_session("local[2]", "sparkeras-images", local_only=True, spark_ui_enabled="false")
    spark.sparkContext.setLogLevel("ERROR")
    frame = read_images(spark, folder)
    train, test = frame.where("split = 'train'"), frame.where("split = 'test'")
    pipeline = Pipeline(stages=[
        DeepImageFeaturizer(inputCol="image", outputCol="features", modelFile=base_file),  # cut before 'classifier'
        LogisticRegression(maxIter=200, regParam=0.01),
    ])
    fitted = pipeline.fit(train)
    predictions = fitted.transform(test)
    accuracy = predictions.where("prediction = label").count() / predictions.count()
    print(f"DeepImageFeaturizer + LogisticRegression on all ten digits (base CNN saw 0-4 only): "
          f"test accuracy {accuracy:.3f}")

    saved = os.path.join(work, "pipeline")
    fitted.write().overwrite().save(saved)
    again = PipelineModel.load(saved).transform(test)
    same = [r.prediction for r in predictions.orderBy("image.origin").select("prediction").collect()] == \
           [r.prediction for r in again.orderBy("image.origin").select("prediction").collect()]
    print(f"reloaded pipeline predictions identical: {same}")

    import keras
    register_image_udf(spark, "digit_base", keras.models.load_model(base_file))
    spark.read.format("image").load(os.path.join(folder, "test")).createOrReplaceTempView("digit_images")
    row = spark.sql("SELECT image.origin AS file, digit_base(image) AS scores FROM digit_images LIMIT 1").first()
    print(f"SQL: {os.path.basename(row.file)} -> class {int(np.argmax(row.scores))} of the base network's five")
    spark.stop()
    if accuracy < 0.8 or not same:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
