"""``zoo report``: finished runs compared in one self-contained HTML file (no script, no network: every picture is
inside it), to open in any browser or attach to a message.

For the runs side by side: their headline metrics; their validation curves overlaid; per-class precision,
recall and F1; their options (those that differ first); each one's confusion matrix and most confused pairs; the
validation examples it got most wrong (fastai's "top losses": thumbnails for images, the text for texts); and its
model card. Every
label, text and name from the data is escaped (:func:`zoo.escape.html_text`): shown, never obeyed.
"""

from __future__ import annotations

import base64
import datetime
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo import files, plots
from zoo.data import read_image
from zoo.data.dataset import Dataset
from zoo.errors import ConfigError, RunError, first_line
from zoo.escape import html_text
from zoo.inference import dataset_outputs
from zoo.metrics import example_losses, summary_rows
from zoo.run import Run, check_not_a_run_file
from zoo.version import __version__

TOP_LOSSES = 8  # validation examples shown per run, the worst first
MOST_CONFUSED = 5  # (true, predicted) pairs listed per run
THUMBNAIL = 96  # pixels, the longer side
TEXT_SHOWN = 300  # characters of a text example

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #666; } pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; white-space: pre-wrap; }
figure { display: inline-block; margin: 0 1em 1em 0; width: 200px; vertical-align: top; }
figure img { display: block; } figcaption { font-size: 12px; } tr.differs td { font-weight: 600; }
"""


def report(runs: str | os.PathLike[str] | Run | Sequence[str | os.PathLike[str] | Run], out: str | os.PathLike[str],
           *, top_losses: int = TOP_LOSSES) -> Path:  # fmt: skip
    """Write one HTML file at ``out`` comparing the finished ``runs`` (directories or :class:`zoo.Run`, or one);
    returns its path. The top losses read each run's validation data again (a run trained from in-memory data has
    none to show, and says so).

    >>> report(["runs/demo/run"], "report.html").name
    'report.html'
    """
    if isinstance(runs, (str, os.PathLike, Run)):  # one run: not a sequence of the path's characters
        runs = [runs]
    if not runs:
        raise ConfigError("give at least one run directory to report on")
    if not isinstance(top_losses, int) or top_losses < 0:
        raise ConfigError(f"top_losses must be a whole number of examples, 0 or more, got {top_losses!r}")
    target = files.as_path(out, "out")
    if target.is_dir():
        raise ConfigError(f"{target} is a folder: give the report's file name, such as {target / 'report.html'}")
    check_not_a_run_file(target, "out")
    files.check_writable(target)  # before the work, not after it
    finished = [run if isinstance(run, Run) else Run.finished(run) for run in runs]
    names = _names(finished)
    body = [
        f"<h1>zoo report: {len(finished)} run{'s' * (len(finished) != 1)}</h1>",
        f'<p class="note">backbone-zoo {html_text(__version__)}, {datetime.datetime.now():%Y-%m-%d %H:%M}</p>',
        _summary(finished, names),
        _curves(finished, names),
        _per_class(finished, names),
        _options(finished, names),
    ]
    for run, name in zip(finished, names, strict=True):
        body.append(f"<h2>{html_text(name)}</h2>")
        body += [_confusion(run), _top_losses(run, top_losses), _card(run)]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>zoo report</title><style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    return files.write_text(target, page)


def _names(runs: list[Run]) -> list[str]:
    """Each run's name in the report: its directory's name, or more of its path where two share one."""
    short = [run.path.name for run in runs]
    return [str(run.path) if short.count(name) > 1 else name for run, name in zip(runs, short, strict=True)]


def _table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] = (), emphasised: int = 0
) -> str:
    """An HTML table; cells escaped, ``numeric`` columns right-aligned, the first ``emphasised`` rows in bold."""
    head = "".join(f"<th>{html_text(h)}</th>" for h in header)
    lines = []
    for number, row in enumerate(rows):
        cells = "".join(
            f'<td class="n">{html_text(c)}</td>' if i < len(numeric) and numeric[i] else f"<td>{html_text(c)}</td>"
            for i, c in enumerate(row)
        )
        lines.append(f'<tr class="differs">{cells}</tr>' if number < emphasised else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _summary(runs: list[Run], names: list[str]) -> str:
    rows = [dict(summary_rows(run.task, run.metrics)) for run in runs]
    labels = list(dict.fromkeys(label for row in rows for label in row))
    header = ["run", "backbone", "task", *labels, "epochs", "val size"]
    table = [
        [
            name,
            run.model_config.backbone,
            run.task,
            *[row.get(label, "") for label in labels],
            len(run.history),
            run.metrics.get("n", ""),
        ]
        for run, name, row in zip(runs, names, rows, strict=True)
    ]
    numeric = [False, False, False, *[True] * len(labels), True, True]
    return '<h2>Summary</h2><div id="summary">' + _table(header, table, numeric) + "</div>"


def _curves(runs: list[Run], names: list[str]) -> str:
    try:
        png = plots.overlaid_curves_png({name: run.history for run, name in zip(runs, names, strict=True)})
    except Exception as err:  # a font or a matplotlibrc that cannot draw: the rest of the report stands
        return f'<h2>Learning curves</h2><p class="note">could not be drawn: {html_text(first_line(err))}</p>'
    return f"<h2>Learning curves</h2>{_image(png, 'validation loss and metric per epoch, every run')}"


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{html_text(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _per_class(runs: list[Run], names: list[str]) -> str:
    """Precision, recall and F1 of each class, the runs side by side (classification and multilabel runs)."""
    scored = [(run, name) for run, name in zip(runs, names, strict=True) if "per_class" in run.metrics]
    if not scored:
        return ""
    classes = list(dict.fromkeys(c for run, _ in scored for c in run.metrics["per_class"]))
    header = ["class"] + [f"{name}: {m}" for _, name in scored for m in ("precision", "recall", "F1")]
    rows = []
    for label in classes:
        row: list[Any] = [label]
        for run, _ in scored:
            values = run.metrics["per_class"].get(label)
            row += [f"{values[m]:.4f}" for m in ("precision", "recall", "f1")] if values else ["", "", ""]
        rows.append(row)
    table = _table(header, rows, [False] + [True] * (len(header) - 1))
    return f'<h2>Per class</h2><div id="per-class">{table}</div>'


def _confusion(run: Run) -> str:
    """The confusion matrix (rows: true class; columns: predicted), shaded by each row's share, and the pairs
    most often confused."""
    counts = run.metrics.get("confusion_matrix")
    if counts is None:
        return ""
    matrix, names = np.asarray(counts), run.class_names
    head = "".join(f"<th>{html_text(n)}</th>" for n in names)
    lines = []
    for i, name in enumerate(names):
        total = max(int(matrix[i].sum()), 1)
        cells = "".join(
            f'<td class="n" style="background: rgba(31, 119, 180, {matrix[i, j] / total:.2f})">{int(matrix[i, j])}</td>'
            for j in range(len(names))
        )
        lines.append(f"<tr><th>{html_text(name)}</th>{cells}</tr>")
    table = f"<table><thead><tr><th>true \\ predicted</th>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"
    pairs = sorted(((int(matrix[i, j]), i, j) for i in range(len(names)) for j in range(len(names)) if i != j),
                   reverse=True)  # fmt: skip
    confused = [(names[i], names[j], n) for n, i, j in pairs[:MOST_CONFUSED] if n]
    listed = _table(("true", "predicted as", "times"), confused, (False, False, True)) if confused else (
        '<p class="note">none: every validation example was predicted as its class</p>')  # fmt: skip
    return f"<h3>Confusion matrix</h3>{table}<h3>Most confused</h3>{listed}"


def _top_losses(run: Run, count: int) -> str:
    """The ``count`` validation examples with the highest loss under the run's model."""
    if not count:
        return ""
    title = "<h3>Top losses</h3>"
    try:
        _, val = run.read_data(progress=False)
    except RunError as err:  # trained from arrays, or its data moved away
        return f'{title}<p class="note">not shown: {html_text(first_line(err))}</p>'
    outputs = dataset_outputs(run, val)
    losses = example_losses(run.task, val.targets, outputs)
    worst = np.argsort(-losses, kind="stable")[:count]
    shown = [_example(run, val, outputs, int(i), float(losses[i])) for i in worst]
    return f'{title}<div class="top-losses">{"".join(shown)}</div>'


def _example(run: Run, data: Dataset, outputs: np.ndarray, i: int, loss: float) -> str:
    """One example as a figure: its thumbnail or text, its label, what the model said, its loss."""
    if run.task == "classification":
        predicted = int(np.argmax(outputs[i]))
        said = (f"true: {run.class_names[int(data.targets[i])]}; predicted: {run.class_names[predicted]} "
                f"({outputs[i][predicted]:.2f})")  # fmt: skip
    elif run.task == "multilabel":
        true = [n for n, t in zip(run.class_names, data.targets[i], strict=True) if t]
        said = f"true: {', '.join(true) or 'none'}; predicted: {', '.join(_above(run, outputs[i])) or 'none'}"
    else:
        said = f"true: {_values(data.targets[i])}; predicted: {_values(outputs[i])}"
    caption = f"<figcaption>{html_text(said)}; loss {loss:.3f}</figcaption>"
    if data.texts is not None:
        text = data.texts[i]
        cut = text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1] + "…"
        return f'<figure class="example"><blockquote>{html_text(cut)}</blockquote>{caption}</figure>'
    name = data.paths[i] if data.paths is not None else f"example {i}"
    return f'<figure class="example">{_thumbnail(data, i, name)}{caption}</figure>'


def _values(values: Any) -> str:
    """Regression targets or outputs, 4 significant digits each.

    >>> _values(np.float32(0.8259)), _values(np.array([1.0, -3.649]))
    ('0.8259', '1, -3.649')
    """
    return ", ".join(f"{float(v):.4g}" for v in np.atleast_1d(values))


def _above(run: Run, output: np.ndarray, threshold: float = 0.5) -> list[str]:
    return [n for n, p in zip(run.class_names, output, strict=True) if p >= threshold]


def _thumbnail(data: Dataset, i: int, name: str) -> str:
    from PIL import Image

    try:
        pixels = data.images[i] if data.images is not None else read_image(name)
        image = Image.fromarray(np.asarray(pixels, dtype="uint8"))
    except Exception as err:  # moved or changed since training: the caption still says what it was
        return f'<p class="note">{html_text(name)}: cannot be read ({html_text(first_line(err))})</p>'
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return _image(buffer.getvalue(), Path(name).name)


def _options(runs: list[Run], names: list[str]) -> str:
    """Every option of every run side by side, as training applied it (AdamW's default weight decay, not None); the
    options on which they differ first, in bold."""
    configs = [run.train_config.applied() for run in runs]
    rows = [[option, *[str(c.get(option, "")) for c in configs]] for option in configs[0]]
    differ = [row for row in rows if len(set(row[1:])) > 1]
    same = [row for row in rows if len(set(row[1:])) == 1]
    table = _table(["option", *names], differ + same, emphasised=len(differ))
    return f'<h2>Options</h2><div id="options">{table}</div>'


def _card(run: Run) -> str:
    card = run.results.card_path
    shown = card.read_text(encoding="utf-8", errors="replace") if card.is_file() else "(no model card)"
    text = "\n".join(html_text(line) for line in shown.splitlines())  # its lines kept, each escaped
    return f"<details><summary>Model card</summary><pre>{text}</pre></details>"
