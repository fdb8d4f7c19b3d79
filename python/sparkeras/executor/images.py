"""Images as model input, decoded on the executors a batch at a time: Spark's image structs
(the `image` data source: BGR bytes, height, width, channels), encoded files (PNG, JPEG, ...:
`binaryFile`'s content) and local paths become float32 arrays (rows, height, width, channels)
at the model's size, in RGB (or BGR) order, then preprocessed."""
import io

import numpy as np

# The fields of Spark's image struct (ImageSchema); its `data` is row-major, BGR(A) for 3 (4) channels.
IMAGE_FIELDS = ("origin", "height", "width", "nChannels", "mode", "data")
# Preprocessing by name: scalings, or a keras.applications module whose preprocess_input applies.
SCALINGS = {"none": None, "unit": (1 / 255.0, 0.0), "symmetric": (1 / 127.5, -1.0)}


def decode(column, height, width, channels, order="RGB"):
    """A pandas column of images as float32 (rows, height, width, channels), values 0-255.
    Rows are image structs (a frame of IMAGE_FIELDS), encoded bytes, or local paths / file: URIs.
    Each is converted to `channels` (1: luminance, 3: colour; alpha dropped) and resized
    (bilinear) when its size differs. `order` 'BGR' reverses the colour channels."""
    n = len(column)
    out = np.empty((n, height, width, channels), dtype=np.float32)
    if hasattr(column, "columns"):  # image structs
        fields = [column[f].to_numpy() for f in ("height", "width", "nChannels", "data")]
        for i, (h, w, c, data) in enumerate(zip(*fields)):
            out[i] = _struct_pixels(i, h, w, c, data, height, width, channels)
    else:
        for i, value in enumerate(column.to_numpy()):
            out[i] = _encoded_pixels(i, value, height, width, channels)
    if order.upper() == "BGR" and channels == 3:
        out = out[..., ::-1]
    elif order.upper() not in ("RGB", "BGR"):
        raise ValueError(f"channel order must be 'RGB' or 'BGR'; got {order!r}")
    return np.ascontiguousarray(out)


def _struct_pixels(row, h, w, c, data, height, width, channels):
    if data is None:
        raise ValueError(f"image row {row} is null (Spark's image source gives null for a file it cannot decode; "
                         "read with dropInvalid=true to skip them)")
    h, w, c = int(h), int(w), int(c)
    if c not in (1, 3, 4) or len(data) != h * w * c:
        raise ValueError(f"image row {row} has {len(data)} bytes for {h}x{w} with {c} channels; not an image struct")
    pixels = np.frombuffer(data, dtype=np.uint8).reshape(h, w, c)
    if c >= 3:
        pixels = pixels[..., 2::-1] if c == 3 else pixels[..., [2, 1, 0]]  # BGR(A) -> RGB
    if (h, w) == (height, width) and pixels.shape[2] == channels:
        return pixels
    return _fit(_pil(pixels), height, width, channels)


def _pillow():
    try:
        import PIL.Image
    except ImportError as e:
        raise ImportError("decoding and resizing images needs Pillow on the executors: pip install 'sparkeras[images]'"
                          ) from e
    return PIL.Image


def _encoded_pixels(row, value, height, width, channels):
    Image = _pillow()
    if value is None:
        raise ValueError(f"image row {row} is null")
    if isinstance(value, str):  # a path: read here, on the executor
        path = value[len("file://"):] if value.startswith("file://") else value
        path = path[len("file:"):] if path.startswith("file:") else path
        if "://" in path:
            raise ValueError(f"image row {row} is {value!r}: paths are read from the executors' local file system; "
                             "read other file systems with spark.read.format('binaryFile') and use its content column")
        with open(path, "rb") as f:
            value = f.read()
    try:
        image = Image.open(io.BytesIO(bytes(value)))
        image.load()
    except Image.UnidentifiedImageError as e:
        raise ValueError(f"image row {row} is not an image file Pillow can decode ({len(value)} bytes)") from e
    return _fit(image, height, width, channels)


def _pil(pixels):
    Image = _pillow()
    return Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)


def _fit(image, height, width, channels):
    Image = _pillow()
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32)
    return pixels.reshape(height, width, channels)


def preprocess(batch, how):
    """Scales a (rows, h, w, c) batch of 0-255 values: 'none', 'unit' (0..1), 'symmetric'
    (-1..1), or a keras.applications module's preprocess_input ('resnet50', 'mobilenet_v2', ...)."""
    if how is None or how in SCALINGS:
        scaling = SCALINGS.get(how or "none")
        return batch if scaling is None else batch * np.float32(scaling[0]) + np.float32(scaling[1])
    import keras
    module = getattr(keras.applications, how, None)
    if module is None or not hasattr(module, "preprocess_input"):
        raise ValueError(f"preprocessing must be one of {', '.join(SCALINGS)} or a keras.applications module "
                         f"(resnet50, mobilenet_v2, vgg16, ...); got {how!r}")
    return np.asarray(module.preprocess_input(batch.copy()), dtype=np.float32)
