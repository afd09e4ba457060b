"""`zoo export` given what it cannot use (issue 20, items 13 and 18): calibration data for a format that does
not calibrate, none to calibrate on, a read-only run, an ``--out`` name longer than the file system takes or
under a file. Each
is one ``zoo: error:`` line, exit 2, and the run is unchanged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.corpus import Case, Expect, data_only

CALIBRATION = r"calibration applies to int8 quantization only, not to this {} export; drop --calibration"
TOO_LONG = r"the name x{20}\.\.\.x{12} \(250 bytes\) is too long for this file system: the export writes it under a "
FOLDER_TOO_LONG = r"the folder name y{20}\.\.\.y{12} in .* is too long for this file system \(300 bytes, at most \d+\)"
FLOAT = CALIBRATION.format("tflite float32") + ", or quantize int8"
DYNAMIC = CALIBRATION.format("tflite dynamic")
NO_IMAGE = r".*data holds no image files to calibrate on"
NOT_A_FOLDER = r"cannot make the export folder .*/0\.png/served: .*/a/0\.png is a file, not a folder; choose another"
READ_ONLY = r"cannot write into .*/run: it is read-only \(no write permission\); choose an --out folder"


def read_only_run(tmp: Path) -> dict[str, Path]:
    """``make``: the finished run at ``tmp/run`` made read-only (its folders 0o555), as an archived run is."""
    for folder in (tmp / "run", *(p for p in (tmp / "run").rglob("*") if p.is_dir())):
        folder.chmod(0o555)
    return {}


def empty_class_folder(tmp: Path) -> dict[str, Path]:
    """``make``: ``{data}``, a class folder without an image."""
    (tmp / "data" / "a").mkdir(parents=True)
    return {"data": tmp / "data"}


def nothing(tmp: Path) -> dict[str, Path]:
    """``make``: the finished run alone."""
    return {}


def _export(name: str, make: Callable[[Path], dict[str, Path]], args: tuple[str, ...], error: str) -> Case:
    """``zoo export RUN ARGS`` on a finished run, refused in one line matching ``error``."""
    return Case(f"export-{name}", "export", make, ("export", "{run}", *args), Expect(2, error=error), needs="finished")


def cases() -> list[Case]:
    """The export cases of the corpus."""
    int8 = ("--format", "tflite", "--quantize", "int8")
    dynamic = ("--format", "tflite", "--quantize", "dynamic")
    return [
        _export("calibration-savedmodel", data_only, ("--calibration", "{data}"), CALIBRATION.format("savedmodel")),
        _export("calibration-tflite-float", data_only, ("--format", "tflite", "--calibration", "{data}"), FLOAT),
        _export("calibration-tflite-dynamic", data_only, (*dynamic, "--calibration", "{data}"), DYNAMIC),
        _export("calibration-without-an-image", empty_class_folder, (*int8, "--calibration", "{data}"), NO_IMAGE),
        _export("read-only-run", read_only_run, ("--format", "tflite"), READ_ONLY),
        _export("out-name-too-long", nothing, ("--out", "{tmp}/" + "x" * 250), TOO_LONG),
        _export("out-under-a-file", data_only, ("--out", "{data}/a/0.png/served"), NOT_A_FOLDER),
        _export("out-folder-over-the-limit", nothing, ("--out", "{tmp}/" + "y" * 300 + "/served"), FOLDER_TOO_LONG),
    ]
