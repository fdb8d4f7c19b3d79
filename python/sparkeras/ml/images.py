"""Keras models applied to images and arrays in Spark ML pipelines (what Databricks' Deep
Learning Pipelines offered): `KerasImageFileTransformer` (a model's output for an image
column), `DeepImageFeaturizer` (a network cut before its classifier, as a Vector feature
column for transfer learning) and `KerasTransformer` (a model's output for an array or
Vector column). Images are Spark's `image` structs, binary file content or local paths,
decoded on the executors in Arrow batches (driver/images.py)."""
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.functions import array_to_vector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol

from sparkeras.driver import columns, images, inference
from sparkeras.errors import ModelSpecError
from sparkeras.ml import persistence


def _identity(value):
    return value


class _KerasApplier(Transformer, HasInputCol, HasOutputCol, persistence.KerasReadWrite):
    """A Keras model (given as `model`, or read from `modelFile`) applied to one column."""
    modelFile = Param(Params._dummy(), "modelFile", "a Keras model saved as .keras, any Hadoop path",
                      typeConverter=TypeConverters.toString)
    batchSize = Param(Params._dummy(), "batchSize", "rows per prediction step", typeConverter=TypeConverters.toInt)
    customObjects = Param(Params._dummy(), "customObjects", "custom Keras objects by name", typeConverter=_identity)

    def __init__(self):
        super().__init__()
        self._setDefault(batchSize=256)
        self.keras_model = None

    def _configure(self, kwargs):
        self.keras_model = kwargs.pop("model", None)
        self._set(**{k: v for k, v in kwargs.items() if v is not None})

    def setModel(self, model):
        self.keras_model = model
        return self

    def getCustomObjects(self):
        return self.getOrDefault(self.customObjects) if self.isDefined(self.customObjects) else None

    def model(self):
        """The Keras model this stage applies: the one given, or the one `modelFile` holds."""
        if self.keras_model is None:
            if not self.isDefined(self.modelFile):
                raise ModelSpecError(f"{type(self).__name__} needs a Keras model: model=... or modelFile=...")
            self.keras_model = persistence.read_keras_file(self.getOrDefault(self.modelFile), self.getCustomObjects())
        return self.keras_model

    def _check_input(self, dataset, accept, expected):
        name = self.getInputCol()
        fields = {f.name: f.dataType for f in dataset.schema.fields}
        if name not in fields:
            raise ModelSpecError(f"input column {name!r} is not in the DataFrame; its columns are {sorted(fields)}")
        if not accept(fields[name]):
            raise ModelSpecError(f"input column {name!r} has type {fields[name].simpleString()}; expected {expected}")


class _ImageParams(Params):
    channelOrder = Param(Params._dummy(), "channelOrder", "colour channel order the model expects: RGB or BGR",
                         typeConverter=TypeConverters.toString)
    preprocessing = Param(Params._dummy(), "preprocessing",
                          "pixel scaling: none (0-255), unit (0-1), symmetric (-1-1), or a keras.applications module "
                          "name whose preprocess_input applies (resnet50, mobilenet_v2, ...)",
                          typeConverter=TypeConverters.toString)

    preprocessingFn = Param(Params._dummy(), "preprocessingFn",
                            "a function of a float32 batch (rows, height, width, channels) of 0-255 values, applied "
                            "instead of `preprocessing` (a Python object: not saved with the stage)",
                            typeConverter=_identity)

    def __init__(self):
        super().__init__()
        self._setDefault(channelOrder="RGB", preprocessing="none")

    def chosen_preprocessing(self):
        """The function given as preprocessingFn, or the preprocessing's name."""
        if self.isDefined(self.preprocessingFn) and self.getOrDefault(self.preprocessingFn) is not None:
            return self.getOrDefault(self.preprocessingFn)
        return self.getOrDefault(self.preprocessing)


_IMAGES = "Spark's image struct (spark.read.format('image')), binary file content, or a path"


class KerasImageFileTransformer(_KerasApplier, _ImageParams):
    """The model's output (array<float>) for each image of `inputCol`: Spark's image structs,
    binaryFile content or local file paths, decoded, resized to the model's input, put in
    `channelOrder` and scaled by `preprocessing` on the executors."""

    @keyword_only
    def __init__(self, *, inputCol=None, outputCol=None, model=None, modelFile=None, channelOrder=None,
                 preprocessing=None, preprocessingFn=None, batchSize=None, customObjects=None):
        super().__init__()
        self._configure(dict(self._input_kwargs))

    def _transform(self, dataset):
        self._check_input(dataset, images.is_image_column, _IMAGES)
        udf = images.predict_udf(dataset.sparkSession, self.model(), self.getOrDefault(self.channelOrder),
                                 self.chosen_preprocessing(), self.getCustomObjects(),
                                 self.getOrDefault(self.batchSize))
        return dataset.withColumn(self.getOutputCol(), udf(dataset[self.getInputCol()]))


class DeepImageFeaturizer(_KerasApplier, _ImageParams):
    """Image features for transfer learning: any Keras model (a keras.applications network
    built with weights from your file, or your own) cut at `layerName`, by default at the
    input of its last Dense layer (the classifier), with global average pooling when the cut
    leaves feature maps. `outputCol` is a Spark ML Vector, ready for LogisticRegression or a
    KerasEstimator head."""
    layerName = Param(Params._dummy(), "layerName", "the layer whose output is the features (default: the "
                      "classifier's input)", typeConverter=TypeConverters.toString)

    @keyword_only
    def __init__(self, *, inputCol=None, outputCol=None, model=None, modelFile=None, layerName=None,
                 channelOrder=None, preprocessing=None, preprocessingFn=None, batchSize=None, customObjects=None):
        super().__init__()
        self._configure(dict(self._input_kwargs))
        self._features = None

    def feature_model(self):
        """The cut network this stage applies (built once)."""
        if self._features is None or self._features[0] is not self.model():
            layer = self.getOrDefault(self.layerName) if self.isDefined(self.layerName) else None
            self._features = (self.model(), images.feature_model(self.model(), layer))
        return self._features[1]

    def _transform(self, dataset):
        self._check_input(dataset, images.is_image_column, _IMAGES)
        udf = images.predict_udf(dataset.sparkSession, self.feature_model(), self.getOrDefault(self.channelOrder),
                                 self.chosen_preprocessing(), self.getCustomObjects(),
                                 self.getOrDefault(self.batchSize))
        return dataset.withColumn(self.getOutputCol(), array_to_vector(udf(dataset[self.getInputCol()])))


class KerasTransformer(_KerasApplier):
    """The model's output (array<float>) for `inputCol`: an array of numbers (nested for
    images or sequences; reshaped to the model's input) or a Spark ML Vector."""

    @keyword_only
    def __init__(self, *, inputCol=None, outputCol=None, model=None, modelFile=None, batchSize=None,
                 customObjects=None):
        super().__init__()
        self._configure(dict(self._input_kwargs))

    def _transform(self, dataset):
        features = columns.feature_expr(dataset, self.getInputCol())  # checks the column's type
        udf = inference.predict_udf(dataset.sparkSession, self.model(), self.getCustomObjects(),
                                    self.getOrDefault(self.batchSize))
        return dataset.withColumn(self.getOutputCol(), udf(features))
