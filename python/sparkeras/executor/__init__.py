"""The executor layer: code that runs in Python worker processes on the executors.

It imports only the wire layer, numpy and TensorFlow/Keras (pyarrow for DataFrame
sources), never the driver layer, pyspark.ml or py4j: an executor that unpickles a
task loads nothing of the driver's API.
"""
