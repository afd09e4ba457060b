"""A mixed-precision model's precision, and its float32 copy (the TFLite and ONNX converters take float32
graphs only)."""

from __future__ import annotations

from typing import Any

from zoo.errors import ExportError, first_line


def compute_dtype(model: Any) -> str:
    """``float32``, or the lower precision a mixed-precision model computes in (``bfloat16``, ``float16``)."""
    layers, seen = [model], set()
    while layers:
        layer = layers.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        policy = getattr(layer, "dtype_policy", None)
        dtype = str(getattr(policy, "compute_dtype", "float32"))
        if dtype in ("bfloat16", "float16") and str(getattr(policy, "name", "")).startswith("mixed_"):
            return dtype
        layers.extend(getattr(layer, "layers", ()))
    return "float32"


def float32_copy(model: Any, name: str) -> Any:
    """The same model under the float32 dtype policy, with the same weights (a mixed-precision model keeps
    its variables in float32 already, so they are copied as they are).

    Rebuilt from its config with every ``mixed_*`` policy replaced by ``float32``: Keras 3.15's
    ``clone_model`` keeps each layer's policy, and ``keras.config.set_dtype_policy`` changes only layers
    built after it. Classes Keras imports by itself (keras, keras_hub, keras_cv) come from their modules,
    the others (the zoo's, a plugin's) from the model's own layers.
    """
    import keras

    def float32(value: Any) -> Any:
        if isinstance(value, dict):
            policy = value.get("config") if value.get("class_name") == "DTypePolicy" else None
            if isinstance(policy, dict) and str(policy.get("name")).startswith("mixed_"):
                return {**value, "config": {**policy, "name": "float32"}}
            return {k: "float32" if k == "dtype" and str(v).startswith("mixed_") else float32(v)
                    for k, v in value.items()}  # fmt: skip
        if isinstance(value, list):
            return [float32(v) for v in value]
        return value

    # Built-in classes are left out: their registered names clash (keras.layers.Add and keras.ops' Add are both "Add").
    builtin = ("keras", "keras_hub", "keras_cv", "keras_nlp")
    classes = {keras.saving.get_registered_name(type(layer)): type(layer)
               for layer in model._flatten_layers(include_self=True, recursive=True)
               if type(layer).__module__.split(".")[0] not in builtin}  # fmt: skip
    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("float32")
        copy = keras.saving.deserialize_keras_object(
            float32(keras.saving.serialize_keras_object(model)), custom_objects=classes
        )
        copy.set_weights(model.get_weights())
    except Exception as err:  # whatever rebuilding raises, the model cannot become float32 here
        raise ExportError(
            f"{name} computes in mixed precision and could not be rebuilt in float32 for this format "
            f"({first_line(err)}); export it as savedmodel"
        ) from err
    finally:
        keras.config.set_dtype_policy(previous)
    if compute_dtype(copy) != "float32":
        raise ExportError(
            f"{name} computes in mixed precision and could not be rebuilt in float32: export it as savedmodel"
        )
    return copy
