"""The run directory's file layout: every name in it, and the readers of its JSON records.

::

    runs/<name>/
        config.json          TrainConfig, ModelConfig and the data sources (written first; the
                             ModelConfig is brought up to date when the run finishes)
        spec.json            the backbone's spec, as it was when the run started
        labels.json          the class names, in output order
        state.json           a RunState: phase, epoch, early stopping and the history so far (rewritten each
                             epoch); once complete, the DataSummary (counts of the data the run saw)
        checkpoints/         weights, best weights and optimizer state per phase, the head after phase 1;
                             start.keras when the run started from a model object (removed once the run is
                             complete)
        skipped.json         inputs left out as unreadable, with the reason
        model.keras          the trained model, with its ModelConfig inside (member zoo.json), without
                             its optimizer state (what is deployed; the checkpoints keep it for a resume)
        metrics.json         validation metrics; history.csv, learning_curves.png,
                             confusion_matrix.png and README.md (the model card) beside it
        exports/             ``zoo export``'s default outputs: savedmodel/, tflite/, tflite-int8/, onnx/, ...
        tensorboard/         TensorBoard's logs, with ``tensorboard=True`` (``--tensorboard``): phase1/, phase2/

No module outside ``zoo/run/`` names these files, the state's keys, the checkpoints or the summary's rows
(tests/test_run_schema.py): they ask a Run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from zoo.errors import ConfigError, RunError

MODEL = "model.keras"
CONFIG = "config.json"
SPEC = "spec.json"
LABELS = "labels.json"
STATE = "state.json"
RECORDS = ("train", "model", "data")  # what config.json holds
REQUIREMENTS = "load_requirements"  # in config.json: the distributions model.keras needs to load
METRICS = "metrics.json"
SKIPPED = "skipped.json"
HISTORY = "history.csv"
CURVES = "learning_curves.png"
CONFUSION = "confusion_matrix.png"
CARD = "README.md"
CHECKPOINTS = "checkpoints"
EXPORTS = "exports"
TENSORBOARD = "tensorboard"
TRAINING_LOCK = ".training.lock"  # while a process trains the run: its pid; removed after
START = "start.keras"  # in checkpoints/: the model a run started from, when it was given as an object
# In checkpoints/, per phase: the weights after its last epoch, the best weights so far and the optimizer's state;
# and the head after phase 1.
EPOCH_WEIGHTS, BEST, OPTIMIZER = "phase{}.weights.h5", "phase{}-best.npz", "phase{}-optimizer.npz"
HEAD = "phase1-final.weights.h5"
PHASE_PREFIX = "phase"  # every checkpoint above starts so: a run that has one is kept (Run.discard)
ARRAYS, DATASET = "<arrays>", "<dataset>"  # config.json's data sources for in-memory data (nothing to read again)
CONFIG_MEMBER = "zoo.json"  # inside model.keras: the ModelConfig, so a loaded model can be trained again
TRUST_MEMBER = "zoo-trust.json"  # inside model.keras: {external file: SHA-256} of what the model reads on load


RUN_FILES = (MODEL, CONFIG, SPEC, LABELS, STATE, METRICS, SKIPPED, HISTORY, CURVES, CONFUSION, CARD, TRAINING_LOCK)


def check_not_a_run_file(target: str | os.PathLike[str], what: str) -> None:
    """Refuse to write ``target`` (``what`` names it: ``--out``) over one of a run directory's own files.

    >>> check_not_a_run_file("runs/demo/run/metrics.json", "--out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    zoo.errors.ConfigError: --out runs/demo/run/metrics.json is a file of the run runs/demo/run: writing it ...
    """
    path = Path(target)
    if path.name in RUN_FILES and (path.parent / CONFIG).is_file():
        raise ConfigError(f"{what} {path} is a file of the run {path.parent}: writing it would damage the run; give "
                          "another file")  # fmt: skip


def read_json(path: Path) -> Any:
    """The JSON file at ``path`` of a run directory; :class:`RunError` if it is missing or damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.parent} is missing {path.name}: not a complete run directory") from None
    except (OSError, ValueError) as err:
        raise RunError(f"{path} cannot be read ({err}); the run directory is damaged") from None


def in_memory(source: str | None) -> bool:
    """Whether a recorded data source is in-memory data (or none): nothing to read again."""
    return not source or source in (ARRAYS, DATASET)
