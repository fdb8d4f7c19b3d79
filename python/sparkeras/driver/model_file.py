"""SparkModel's file format: the Keras model (`.keras` or `.h5`) with sparkeras's
distributed settings stored inside it, as elephas stores them."""
import json
import os
import zipfile

_CONFIG_ENTRY = "sparkeras.json"


def save(model, class_name, settings, file_name, overwrite=True):
    """Writes the Keras model, the name of the class that saved it and `settings` (a dict)
    into one file, in elephas's layout ({"class_name", "config"}), so each reads the other's."""
    if os.path.exists(file_name) and not overwrite:
        raise FileExistsError(file_name)
    config = json.dumps({"class_name": class_name, "config": settings})
    if file_name.endswith(".h5"):
        import h5py  # only HDF5 files need it
        model.save(file_name)
        with h5py.File(file_name, "a") as f:
            f.attrs["distributed_config"] = config
    else:
        if not file_name.endswith(".keras"):
            raise ValueError(f"save to a '.keras' or '.h5' file; got {file_name!r}")
        model.save(file_name)
        with zipfile.ZipFile(file_name, "a") as z:
            z.writestr(_CONFIG_ENTRY, config)


def load(file_name, custom_objects=None):
    """(Keras model, class name, settings dict) from a file `save` (or elephas) wrote."""
    import keras
    if file_name.endswith(".h5"):
        import h5py  # only HDF5 files need it
        with h5py.File(file_name, "r") as f:
            raw = f.attrs.get("distributed_config")
    else:
        with zipfile.ZipFile(file_name) as z:
            raw = z.read(_CONFIG_ENTRY) if _CONFIG_ENTRY in z.namelist() else None
    model = keras.models.load_model(file_name, custom_objects=custom_objects)
    if raw is None:
        raise ValueError(f"{file_name} holds a Keras model but no sparkeras configuration; was it saved by SparkModel.save?")
    stored = json.loads(raw)
    if "sparkeras" in stored:  # files from sparkeras 0.x before the elephas layout
        return model, "SparkModel", stored["sparkeras"]
    return model, stored.get("class_name", "SparkModel"), stored.get("config", {})
