"""What one export is made from: the run or model it exports (:class:`Source`, read before TensorFlow loads)
and, once TensorFlow has, the model the artefact is made from and the examples it is calibrated and checked on
(:class:`Job`)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from zoo.config import ModelConfig
from zoo.errors import ExportError
from zoo.exports.examples import Examples
from zoo.exports.formats import output_name
from zoo.exports.precision import compute_dtype, float32_copy
from zoo.run import Run
from zoo.spec import BackboneSpec


@dataclasses.dataclass
class Source:
    """What an export needs to know, from a run directory (no TensorFlow yet) or from a model object."""

    name: str
    config: ModelConfig
    spec: BackboneSpec
    labels: tuple[str, ...]
    run: Run | None
    _model: Any = None

    @classmethod
    def of(cls, source: Any) -> Source:
        if isinstance(source, (str, os.PathLike, Run)):
            run = Run.finished(source)
            spec = BackboneSpec.from_dict(run.spec)
            return cls(str(run.path), run.model_config, spec, run.class_names, run)
        config = getattr(source, "zoo_config", None)
        if not isinstance(config, ModelConfig):
            raise ExportError(
                f"{type(source).__name__} is neither a run directory nor a model made by zoo.build/zoo.load_model"
            )
        from zoo.plugins import get_spec

        spec = get_spec(config.backbone)
        return cls(getattr(source, "name", "the model"), config, spec, config.class_names, None, source)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self.run.model  # type: ignore[union-attr]
        return self._model

    @property
    def text(self) -> bool:
        return self.config.modality == "text"

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.config.input_shape[:2])  # type: ignore[return-value]

    @property
    def interpolation(self) -> str:
        return self.spec.interpolation or "none"

    @property
    def sequence_length(self) -> int | None:
        """The tokens a text model reads of each string: the length the run fitted (``input_shape[0]``)."""
        return int(self.config.input_shape[0]) if self.text else None

    @property
    def text_steps(self) -> list[Any]:
        """A text model's tokenizing layers (none for an image model, or a text network that tokenizes inside one
        layer: a SavedModel); loads the model."""
        return [self.model.get_layer(name) for name in self.config.parts.text_steps] if self.text else []

    @property
    def output_name(self) -> str:
        return output_name(self.config.task)


@dataclasses.dataclass
class Job:
    """One export under way: its source, format and quantisation, the model the artefact is made from, and the
    examples it is calibrated and checked on; TensorFlow from here on."""

    src: Source
    format: str
    quantize: str | None
    check: bool
    examples: Examples
    compute_dtype: str  # float32, or bfloat16/float16 for a mixed-precision model
    served: Any  # what the artefact is made from: the model, or its float32 copy

    @classmethod
    def start(cls, src: Source, format: str, quantize: str | None, check: bool, examples: Examples) -> Job:
        """Load the model; TFLite and ONNX take float32 graphs, so a mixed-precision model goes through a float32
        copy; the SavedModel keeps the model as it is."""
        model = src.model
        dtype = compute_dtype(model)
        served = float32_copy(model, src.name) if dtype != "float32" and format != "savedmodel" else model
        return cls(src, format, quantize, check, examples, dtype, served)

    @property
    def model(self) -> Any:
        return self.src.model

    def input_spec(self, any_size: bool) -> Any:
        """The artefact's input: strings, or uint8 images at the training size (any size: ``any_size``)."""
        import tensorflow as tf

        if self.src.text:
            return tf.TensorSpec([None], tf.string, name="text")
        height, width = self.src.image_size
        return tf.TensorSpec([None, None if any_size else height, None if any_size else width, 3], tf.uint8, "images")
