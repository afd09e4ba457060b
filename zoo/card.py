"""The Markdown model card of a run (``README.md``): what the model reads, how it was trained, how it scores,
how to load it and what it cannot do.

Worded for the run's modality; nothing unset is printed as ``None``. Plain text and numpy only (no
TensorFlow or Keras). The file goes through :mod:`zoo.files`: it is complete or absent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo import escape
from zoo.config import TASKS, describe_head
from zoo.data.listing import with_article
from zoo.files import write_text
from zoo.metrics import summary_rows
from zoo.spec import Preprocessing, TextPreprocessing

CARD_MAX_CLASSES = 50  # per-class table in the model card up to this many classes
ZOO_DISTRIBUTION = "backbone-zoo"  # among a model's load requirements: it loads through zoo.load_model only


def write_model_card(
    path: str | os.PathLike,
    *,
    name: str,
    spec: Mapping[str, Any],
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    class_names: Sequence[str],
    task: str,
    data_summary: Mapping[str, Any] | None = None,
    texts_cut: int | None = None,
    history: Sequence[Mapping[str, Any]] = (),
    load_requirements: Sequence[str] | None = None,
) -> Path:
    """Write a short Markdown model card (``README.md`` of a run directory) and return its path.

    ``path`` is the card file, or a directory to write ``README.md`` in; the usage snippet points at
    ``model.keras`` beside it. ``spec`` is the backbone's ``BackboneSpec.to_dict()``, its
    ``input_shape`` what the model reads (``[tokens]`` for text); its ``modality`` chooses the
    wording of the input, usage and limitations. ``config`` holds the run's ``TrainConfig`` fields
    (and its data sources, and the ``ModelConfig``'s ``unfrozen`` blocks); ``data_summary`` the Data table's
    rows (``DataSummary.rows()``), ``texts_cut`` how many texts were longer than the model reads; ``history``
    the epochs the run trained, so the card gives the epochs and learning rate each phase really used.
    ``load_requirements`` (``Run.load_requirements``: the distributions loading ``model.keras`` needs) gives
    the usage one line on what to install and whether plain ``keras.saving.load_model`` loads it or
    ``zoo.load_model`` is needed. Nothing unset is printed as ``None``: it is left out or worded ("none",
    "not used").

    >>> import tempfile, pathlib
    >>> card = write_model_card(pathlib.Path(tempfile.mkdtemp()), name="pets", spec={"name": "resnet50"},
    ...                         config={"epochs": 3}, metrics={"n": 2, "accuracy": 1.0}, class_names=["cat", "dog"],
    ...                         task="classification")
    >>> card.read_text().splitlines()[0], card.name
    ('# pets', 'README.md')
    """
    path = Path(path)
    if path.is_dir():
        path = path / "README.md"
    if hasattr(spec, "to_dict"):
        spec = spec.to_dict()
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    folder = path.parent.as_posix()
    names = [str(n) for n in class_names]
    backbone = spec.get("name", "?")
    text = spec.get("modality") == "text"
    train = _train_config(config)
    lines = [f"# {escape.markdown(name)}", ""]
    outputs = {
        "classification": f"one of {len(names)} classes (softmax probabilities)",
        "multilabel": f"any of {len(names)} labels (independent sigmoid probabilities)",
        "regression": f"{len(names) or 'one or more'} regression target(s)",
    }.get(task, task)
    kind = f"{'text ' if text else 'image ' if spec.get('modality') == 'image' else ''}{task}"
    lines += [
        f"{with_article(kind).capitalize()} model trained with backbone-zoo on the `{backbone}` backbone: "
        f"it predicts {outputs}.",
        "",
    ]

    lines += ["## Model", ""]
    lines += [f"- backbone: `{backbone}`" + (f" ({spec['family']} family)" if spec.get("family") else "")]
    if spec.get("plugin"):
        lines += [f"- plugin: `{spec['plugin']}`"]
    pre = _preprocessing(spec)
    lines += _text_input(spec, pre) if text else _image_input(spec, pre)
    lines += [f"- head: {_head(spec, train, task, text, len(names))}", ""]

    lines += [
        "## Training",
        "",
        *_table(("phase", "what trains", "epochs", "learning rate"), _phases(train, config, history)),
    ]
    settings = _settings(config, train, task)
    lines += ["", *_table(("setting", "value"), settings), ""] if settings else [""]
    if data_summary:
        rows = [(k, _cell(v)) for k, v in data_summary.items() if v is not None]
        lines += ["## Data", "", *_table(("item", "value"), rows), ""]

    lines += ["## Evaluation", ""]
    n = metrics.get("n")
    if n is not None:
        lines += [f"On {n} validation examples:", ""]
    headline = summary_rows(task, metrics) if task in TASKS else []
    lines += [*_table(("metric", "value"), headline), ""] if headline else ["No metrics recorded.", ""]
    per_class = metrics.get("per_class") or {}
    if per_class and len(per_class) <= CARD_MAX_CLASSES:
        rows = [
            (Code(label), *(f"{m[k]:.4f}" for k in ("precision", "recall", "f1")), str(m["support"]))  # type: ignore[misc]
            for label, m in per_class.items()
        ]
        lines += [*_table(("label", "precision", "recall", "F1", "support"), rows), ""]

    if names:
        lines += ["## Labels", "", "Output index: label", ""]
        lines += [f"- {i}: {escape.markdown_code(label)}" for i, label in enumerate(names)] + [""]

    lines += ["## Usage", ""]
    lines += [_how_to_load(load_requirements), ""] if load_requirements is not None else []
    lines += [*(_text_usage(folder) if text else _image_usage(folder, spec)), ""]

    lines += ["## Limitations", ""]
    if n is not None:
        lines += [f"- Evaluated on {n} validation examples only: the metrics are an estimate, not a guarantee."]
    if task != "regression":
        lines += ["- It knows only the labels above: anything else is forced into one of them."]
    few = [label for label, m in per_class.items() if m.get("support", 0) < 10]
    if few:
        shown = ", ".join(escape.markdown_code(label) for label in few[:10]) + (", ..." if len(few) > 10 else "")
        lines += [f"- {len(few)} label(s) have fewer than 10 validation examples, so their scores are noisy: {shown}."]
    lines += _text_limitations(spec, pre, texts_cut) if text else _image_limitations()
    return write_text(path, "\n".join(lines) + "\n")


def _train_config(config: Mapping[str, Any]) -> Any:
    """The run's :class:`zoo.TrainConfig` from the TrainConfig fields among ``config`` (the rest are data sources)."""
    import dataclasses

    from zoo.config import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig.from_options({k: v for k, v in config.items() if k in fields})


def _preprocessing(spec: Mapping[str, Any]) -> Any:
    """The spec's ``Preprocessing`` or ``TextPreprocessing`` (what built the model's input steps), to ask for
    its words; a plain string or a record that does not make one is returned as it is (``None`` if absent)."""
    pre = spec.get("preprocessing")
    if not isinstance(pre, Mapping):
        return pre or None
    kind = TextPreprocessing if spec.get("modality") == "text" else Preprocessing
    try:
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in pre.items()}
        return kind(**fields)
    except TypeError:
        return pre or None


def _image_input(spec: Mapping[str, Any], pre: Any) -> list[str]:
    lines = []
    shape = spec.get("input_shape")
    if shape:
        size = " x ".join(str(d) for d in shape)
        interpolation = getattr(pre, "interpolation", None)
        resize = f", resized {interpolation} to this size" if interpolation else ""
        lines += [f"- input: RGB images of {size}, raw pixels in [0, 255]{resize}"]
    if pre:
        lines += [f"- preprocessing (inside the model): {_describe_preprocessing(pre)}"]
    return lines


def _text_input(spec: Mapping[str, Any], pre: Any) -> list[str]:
    lines = ["- input: one raw string per example (the model tokenizes it)"]
    if not isinstance(pre, TextPreprocessing):
        return lines
    if pre.tokenizer:
        lines += [f"- tokenizer (inside the model): {pre.describe_tokenizer()}"]
    lines += [f"- sequence length: {pre.describe_length(_tokens_read(spec))}"]
    if pre.pooling:
        lines += [f"- pooling: {pre.describe_pooling()}"]
    return lines


def _tokens_read(spec: Mapping[str, Any]) -> int | None:
    """The tokens the model reads of a text: ``run.results.finish`` gives the model's ``input_shape`` (``[tokens]``)."""
    shape: Sequence[Any] = spec.get("input_shape") or ()
    return int(shape[0]) if len(shape) == 1 else None


def _head(spec: Mapping[str, Any], train: Any, task: str, text: bool, outputs: int) -> str:
    """The head's line, as :func:`zoo.config.describe_head` words the options it was built with."""
    # zoo.build reduces an image feature map only: a text encoder's vectors, or an image network's, are not pooled
    pools = not text and len(spec.get("feature_shape") or (0, 0)) != 1
    reduction = train.head if pools else None
    return describe_head(task, outputs or None, reduction, train.hidden, train.dropout, train.standardize)


def _phases(train: Any, config: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """One row per phase: what trained, the epochs run (of the most allowed) and the learning rate used."""
    schedule = "cosine decay to 0" if train.schedule == "cosine" else "constant"
    if train.warmup_epochs:
        schedule = f"linear warm-up over {train.warmup_epochs:g} epochs, then {schedule}"
    optimizer = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD, momentum 0.9"}.get(train.optimizer, train.optimizer)
    if train.effective_weight_decay:
        optimizer += f", weight decay {train.effective_weight_decay:g}"

    def epochs(phase: int, most: int) -> str:
        run = sum(1 for row in history if row.get("phase") == phase)
        if not history:
            return f"at most {most}"
        stopped = " (early stopping)" if run < most else ""
        return f"{run} of {most}{stopped}"

    rows = [
        (
            "1",
            "the head (backbone frozen)",
            epochs(1, train.epochs),
            f"{train.learning_rate:g}, {schedule}, {optimizer}",
        )
    ]
    if train.fine_tune:
        unfrozen = list(config.get("unfrozen") or [])
        blocks = f" ({', '.join(unfrozen)})" if unfrozen else ""
        what = f"the head and the top {train.fine_tune} backbone blocks{blocks}, BatchNorm frozen"
        rate = f"{train.phase2_learning_rate:g}, {schedule}, {optimizer}"
        rows.append(("2", what, epochs(2, train.phase2_epochs), rate))
    else:
        rows.append(("2", "not used (no fine-tuning)", "-", "-"))
    return rows  # type: ignore[return-value]


# The settings table: TrainConfig fields the phases and the head do not already show, and how to word them.
_SETTINGS = ("batch_size", "weights", "augment", "class_weight", "label_smoothing", "patience", "seed",
             "mixed_precision", "cache", "shuffle", "distribution", "val_fraction")  # fmt: skip


def _settings(config: Mapping[str, Any], train: Any, task: str) -> list[tuple[str, str]]:
    rows = []
    for key in _SETTINGS:
        if key == "class_weight" and task != "classification":
            continue
        value = getattr(train, key)
        if key == "weights":
            text = {None: "none (random initialisation)", "default": "default (the backbone's pretrained ones)"}.get(
                value, str(value)
            )
        elif key == "augment":
            text = "none" if not value else "all" if value is True else ", ".join(value)
        elif key == "class_weight":
            text = value or "none (every class weighs 1)"
        elif key == "label_smoothing":
            if task == "regression":
                continue
            text = f"{value:g} of each target spread evenly over the classes" if value else "none"
        elif key == "patience":
            text = "none (never stops early)" if value is None else f"{value} epochs"
        elif key == "mixed_precision":  # as built: a model passed to zoo.train keeps the policy it was built under
            policy = config.get("dtype_policy", "float32")
            text = f"yes ({policy})" if value or policy.startswith("mixed") else "no"
        elif key == "val_fraction":
            if config.get("val", "") is not None:
                continue  # validated on its own data (or not said): nothing was held out
            text = f"{value:g} of the training data held out for validation"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = _cell(value)
        rows.append((key, text))
    rows += [(key, _cell(config[key])) for key in ("train", "val") if config.get(key) is not None]
    return rows


def _how_to_load(requirements: Sequence[str]) -> str:
    """One line: what must be installed to load ``model.keras``, and which function loads it.

    >>> print(_how_to_load(["keras", "keras-cv"]))
    To load `model.keras`, install `keras` and `keras-cv`: plain `keras.saving.load_model` loads it (no zoo needed).
    >>> _how_to_load(["backbone-zoo", "keras", "keras-hub"])[:77]
    'To load `model.keras`, install `backbone-zoo`, `keras` and `keras-hub`: use `'
    """
    names = [f"`{name}`" for name in requirements] or ["`keras`"]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    if ZOO_DISTRIBUTION in requirements:
        how = ("use `zoo.load_model` (its layers are not Keras' own, so plain `keras.saving.load_model` "
               "does not know them)")  # fmt: skip
    else:
        how = "plain `keras.saving.load_model` loads it (no zoo needed)"
    return f"To load `model.keras`, install {listed}: {how}."


def _image_usage(folder: str, spec: Mapping[str, Any]) -> list[str]:
    shape = spec.get("input_shape")
    shaped = f" of shape (N, {', '.join(str(d) for d in shape)})" if shape else ""
    return [
        "```python",
        "import zoo",
        "",
        f"model = zoo.load_model({escape.python(folder + '/model.keras')})",
        f"outputs = model.predict(images)  # raw RGB pixels in [0, 255]{shaped}; the model preprocesses them",
        f'results = zoo.predict({escape.python(folder)}, ["image.jpg"])  # or from files, resized as in training',
        "```",
        "",
        "```sh",
        f"zoo predict {escape.shell(folder)} image.jpg other.png",
        "```",
    ]


def _text_usage(folder: str) -> list[str]:
    return [
        "```python",
        "import numpy as np",
        "import zoo",
        "",
        f"model = zoo.load_model({escape.python(folder + '/model.keras')})",
        'outputs = model.predict(np.array(["some text", "another text"], dtype=object))  # raw strings',
        f'results = zoo.predict({escape.python(folder)}, ["some text", "another text"])',
        "```",
        "",
        "```sh",
        f'zoo predict {escape.shell(folder)} "some text" "another text"',
        f"xargs -d '\\n' zoo predict {escape.shell(folder)} < texts.txt  # one text per line",
        "```",
    ]


def _image_limitations() -> list[str]:
    return ["- Performance on images unlike the training data (other cameras, domains, resolutions) is unknown."]


def _text_limitations(spec: Mapping[str, Any], pre: Any, cut: int | None) -> list[str]:
    text = isinstance(pre, TextPreprocessing)
    length = _tokens_read(spec) or (pre.sequence_length if text else None)
    vocabulary = f" (its vocabulary: {pre.vocabulary})" if text and pre.vocabulary else ""
    lines = [
        f"- Performance on texts unlike the training data (other languages, domains, styles or lengths) is unknown; "
        f"the backbone reads what its tokenizer knows{vocabulary}."
    ]
    if length:
        counted = f" ({cut} of the training and validation texts were)" if cut is not None else ""
        lines += [f"- Only the first {length} tokens of a text are read: the rest is ignored{counted}."]
    return lines


def _describe_preprocessing(pre: Any) -> str:
    if isinstance(pre, str):
        return pre
    if hasattr(pre, "describe"):
        return str(pre.describe())
    return _cell({k: v for k, v in pre.items() if v is not None} if isinstance(pre, Mapping) else pre)


def _cell(value: Any) -> str:
    """A short rendering of a config or data value for a table cell ("none" for ``None``)."""
    if value is None:
        return "none"
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (list, tuple)) and len(value) > 5:
        head = ", ".join(str(v) for v in value[:5])
        text = f"{len(value)} ({head}, ...)"
    elif isinstance(value, (Mapping, list, tuple)):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    return text


class Code(str):
    """A table cell shown as code (a label): :func:`escape.markdown_code` rather than :func:`escape.markdown`."""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    shown = [[escape.markdown_code(c) if isinstance(c, Code) else escape.markdown(c) for c in row] for row in rows]
    return lines + ["| " + " | ".join(row) + " |" for row in shown]
