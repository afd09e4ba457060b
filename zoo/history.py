"""The epoch history of a run as CSV: one row per epoch, every key a column.

Written through :mod:`zoo.files`: the file is complete or absent.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.files import write_text


def write_history_csv(history: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write one CSV row per epoch; the columns are every key in first-seen order, missing values empty.

    >>> import tempfile, pathlib
    >>> out = write_history_csv([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "val_loss": 0.4}],
    ...                         pathlib.Path(tempfile.mkdtemp()) / "history.csv")
    >>> out.read_text().splitlines()
    ['epoch,loss,val_loss', '1,0.5,', '2,,0.4']
    """
    columns = list(dict.fromkeys(key for row in history for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    if columns:
        writer.writeheader()
    writer.writerows({key: _cell_value(value) for key, value in row.items()} for row in history)
    return write_text(path, buffer.getvalue())


def _cell_value(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return value
