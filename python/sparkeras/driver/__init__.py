"""The driver layer: code that runs in the Spark driver's Python process. It holds the
py4j bridge, the training engine, the one stage launcher and the inference orchestration;
the public API (sparkeras.spark_model, sparkeras.ml) is a set of thin facades over it."""
