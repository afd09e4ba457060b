"""``metadata.json``: what an export says about its artefact (input spec, preprocessing, labels, backbone and
weights' licence, source run, parity), and whether a folder holds a zoo export."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.config import ModelConfig
from zoo.exports.formats import ARTEFACTS, METADATA
from zoo.run import load_requirements
from zoo.spec import BackboneSpec
from zoo.version import __version__

if TYPE_CHECKING:
    from zoo.exports.job import Job

MARK = "backbone-zoo"  # metadata.json's "exported_by" starts with it: a folder the zoo may replace


def exported_by() -> str:
    """``backbone-zoo <version>``: who wrote an export."""
    return f"{MARK} {__version__}"


def is_export(folder: Path) -> bool:
    """Whether ``folder`` holds an export of the zoo (its ``metadata.json`` says so)."""
    try:
        return str(json.loads((folder / METADATA).read_text(encoding="utf-8"))["exported_by"]).startswith(MARK)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def metadata(job: Job, size: int, details: dict[str, Any]) -> dict[str, Any]:
    """What ``metadata.json`` holds for the artefact of ``job`` (``size`` bytes), with the writer's ``details``."""
    src, spec, config = job.src, job.src.spec, job.src.config
    any_size = job.format == "savedmodel"
    preprocessing = spec.preprocessing
    inputs: dict[str, Any]
    if src.text:  # the spec declares the backbone's length; the run fitted its own to its texts
        length = src.sequence_length
        preprocessing = dataclasses.replace(preprocessing, sequence_length=length)  # type: ignore[arg-type]
        inputs = {"name": "text", "dtype": "string", "shape": [None], "value": "raw text, one string per example",
                  "sequence_length": length, "truncation": f"the model reads the first {length} tokens of each "
                  "text (the length fitted to the run's training texts) and ignores the rest"}  # fmt: skip
        if src.text_steps:
            inputs["truncation"] += "; the output truncated says which texts filled them all"  # type: ignore[operator]
    else:
        height, width = src.image_size
        shape = [None, None, None, 3] if any_size else [None, height, width, 3]
        resize = (f"inside, to {height}x{width} with {src.interpolation} interpolation (any size in)" if any_size
                  else f"before feeding, to {height}x{width} with {src.interpolation} interpolation")  # fmt: skip
        inputs = {"name": "images", "dtype": "uint8", "shape": shape, "value_range": [0, 255], "channels": "RGB",
                  "resize": resize, "size": [height, width]}  # fmt: skip
    output = {"name": src.output_name, "dtype": "float32", "shape": [None, config.num_outputs]}
    result: dict[str, Any] = {
        "format": job.format,
        "quantize": job.quantize,
        "artefact": "." if any_size else ARTEFACTS[job.format],
        "bytes": size,
        "exported_by": exported_by(),
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source_run": str(src.run.path.resolve()) if src.run is not None else None,
        "task": config.task,
        "modality": config.modality,
        "input": inputs,
        "output": output,
        "preprocessing": {
            "inside": True,
            "description": preprocessing.describe(),
            **dataclasses.asdict(preprocessing),
        },
        "labels": list(src.labels),
        "backbone": _backbone(spec, config),
        # What the source run's model.keras needs to load (not this artefact, which needs its runtime only).
        "source_model_requires": src.run.load_requirements if src.run is not None else load_requirements(src.model),
        **{k: v for k, v in details.items() if k != "parity"},
    }
    if job.compute_dtype != "float32":
        computes = "float32 (a float32 copy of the model, same weights)" if job.served is not job.model else (
            f"mixed {job.compute_dtype}, as the Keras model")  # fmt: skip
        result["mixed_precision"] = {"keras_compute_dtype": job.compute_dtype, "artefact_computes_in": computes}
    if "parity" in details:
        result["parity"] = details["parity"]
    return result


def _backbone(spec: BackboneSpec, config: ModelConfig) -> dict[str, Any]:
    """The backbone and the licence of the weights the model started from."""
    weights = config.weights
    tag = spec.default_weights if weights == "default" else weights
    variant = next((w for w in spec.weights if w.tag == tag), None)
    if weights is None:
        described, licence = "none (random initialisation)", None
    elif variant is not None:
        described, licence = f"{variant.tag}: {variant.source}", variant.license or "unknown"
    else:
        described, licence = f"local file {weights}", "unknown (a local weights file)"
    return {"name": spec.name, "family": spec.family, "plugin": spec.plugin, "weights": described,
            "weights_license": licence, "reference": spec.reference}  # fmt: skip
