"""A finished run as an MLflow model: the ``python_function`` flavour that ``mlflow.pyfunc.load_model`` loads.

``zoo train --mlflow`` logs it as the run's ``model`` artefact (``runs:/<run id>/model``): a copy of the run
directory's records and ``model.keras`` as the model's data, and this module as its loader (MLflow's
``loader_module``: :func:`_load_pyfunc`), predicted through :func:`zoo.predict`, so the preprocessing is the one
the run trained with. Loading it needs the zoo and the run's plugin installed (its ``requirements.txt`` lists
them)::

    model = mlflow.pyfunc.load_model("runs:/<run id>/model")
    model.predict(["beach.png", "night.png"])    # image files, or pixels (N, H, W, 3); a text model takes texts

The result is a ``pandas.DataFrame``, one row per input: ``label`` (the most likely class) then one column per
class with its score, in the model's output order; for regression, one column per target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zoo.errors import DataError
from zoo.inference import predict
from zoo.run import Run


def _load_pyfunc(data_path: str) -> RunModel:
    """MLflow's entry point: the model whose data (the run's copy) is at ``data_path``."""
    return RunModel(Run.finished(Path(data_path)))


class RunModel:
    """A finished zoo run as MLflow's pyfunc calls it (see the module's docstring)."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Scores of ``model_input``: a list or array of image paths or texts, pixels ``(N, H, W, 3)``, or a
        DataFrame whose ``path`` (images) or ``text`` column, else its first, holds them."""
        every = max(1, len(self.run.class_names))  # every class scored
        return scores_frame(self.run, predict(self.run, _inputs(model_input, self.run.modality), top_k=every))


def _inputs(model_input: Any, modality: str) -> Any:
    if isinstance(model_input, pd.DataFrame):
        column = "text" if modality == "text" else "path"
        model_input = model_input[column if column in model_input.columns else model_input.columns[0]]
    if isinstance(model_input, pd.Series):
        return model_input.tolist()
    if isinstance(model_input, np.ndarray) and model_input.dtype.kind in "OUS":
        return model_input.tolist()
    return model_input


def scores_frame(run: Run, results: list[dict[str, Any]]) -> pd.DataFrame:
    """:func:`zoo.predict`'s results (every class scored) as one row per input; an input that could not be read
    raises :class:`zoo.DataError` naming it (a row of made-up scores would be silently wrong)."""
    for result in results:
        if "error" in result:
            raise DataError(f"{result['input']}: {result['error']}")
    names = list(run.class_names)
    if run.task == "regression":
        width = len(results[0]["values"]) if results else 0
        columns = names if len(names) == width else [f"value_{i}" for i in range(1, width + 1)]
        return pd.DataFrame([r["values"] for r in results], columns=columns)
    rows = [{p["label"]: p["score"] for p in r["predictions"]} for r in results]
    frame = pd.DataFrame(rows, columns=names, dtype="float64")
    frame.insert(0, "label", [r["predictions"][0]["label"] for r in results])
    return frame
