"""Hostile data, round two (issue 20, items 4, 11 and 15): special files named ``*.txt``, labels that look the same,
and validation data that is the training data."""

from __future__ import annotations

import os
import shutil
import unicodedata
from collections.abc import Callable
from pathlib import Path

from PIL import Image, PngImagePlugin

from tests.corpus import (
    TEXTS,
    TRAIN_ON_DATA,
    TRAIN_TEXTS,
    Case,
    Expect,
    image_folder,
    manifest,
    pixels,
    text_jsonl,
    text_table,
)

NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
SKIPPED_TEXT = r"skipped 1 of 9 text files that cannot be read: \S+/{} \({}\)"
TWO_FORMS = r"the same label in two Unicode forms \(NFC and NFD\) in text file .*: 'caf[^']*' and 'caf[^']*'; each"


def text_folder(root: Path) -> Path:
    """Eight ``.txt`` files of two topics, ``weather`` and ``sport``, a folder each."""
    for i, text in enumerate(TEXTS):
        folder = root / ("weather" if i < 4 else "sport")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.txt").write_text(text)
    return root


def with_text_file(name: str, write: Callable[[Path], object]) -> Callable[[Path], dict[str, Path]]:
    """``make``: the text folder at ``tmp/data``, plus ``write(path)`` making ``data/weather/name``."""

    def make(tmp: Path) -> dict[str, Path]:
        data = text_folder(tmp / "data")
        write(data / "weather" / name)
        return {"data": data}

    return make


def nfc_and_nfd_folders(tmp: Path) -> dict[str, Path]:
    """``make``: the valid image folder with class ``a`` renamed to ``café`` in NFC, plus a ``café`` in NFD."""
    data = image_folder(tmp / "data")
    (data / "a").rename(data / NFC)
    shutil.copytree(data / "b", data / NFD)
    for i, path in enumerate(sorted((data / NFD).iterdir())):  # other pixels: the same content would be refused
        Image.fromarray(pixels(400 + i)).save(path)
    return {"data": data}


def resaved_under_b(tmp: Path) -> dict[str, Path]:
    """``make``: ``a/0.png`` saved again into class ``b`` with a text chunk: other bytes, the same pixels."""
    data = image_folder(tmp / "data")
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "saved again by another tool")
    Image.open(data / "a" / "0.png").save(data / "b" / "resaved.png", pnginfo=info)
    return {"data": data}


def val_copy(overlap: int | None) -> Callable[[Path], dict[str, Path]]:
    """``make``: the valid folder at ``tmp/data`` and ``tmp/val``: a copy of it, or (``overlap``) other images
    of which that many are copies of training images."""

    def make(tmp: Path) -> dict[str, Path]:
        data = image_folder(tmp / "data")
        if overlap is None:
            return {"data": data, "val": Path(shutil.copytree(data, tmp / "val"))}
        val = tmp / "val"
        for i, path in enumerate(sorted(data.rglob("*.png"))):
            copy = val / path.relative_to(data)
            copy.parent.mkdir(parents=True, exist_ok=True)
            if i < overlap:
                shutil.copyfile(path, copy)
            else:
                Image.fromarray(pixels(500 + i)).save(copy)
        return {"data": data, "val": val}

    return make


def _skipped_text(name: str, file: str, write: Callable[[Path], object], reason: str, **options: object) -> Case:
    """``zoo train`` on the text folder plus ``file``: trained, ``file`` skipped and named with ``reason``."""
    expect = Expect(0, skipped=file, warning=SKIPPED_TEXT.format(file, reason))
    return Case(f"text-folder-{name}", "text", with_text_file(file, write), TRAIN_TEXTS, expect, **options)


def cases() -> list[Case]:
    """The cases of this area."""
    train_val = (*TRAIN_ON_DATA, "--val", "{val}")
    nul_label = b'{"text": "fog at dawn", "label": "weather\\u0000"}\n'
    two_forms = f"fog at dawn,{NFC}\nsnow by noon,{NFD}\n".encode()
    escape_label = manifest('path,label\n{rows}\nimages/0.png,"b\x1b[2J"\n')
    return [
        _skipped_text("fifo", "waiting.txt", os.mkfifo, r"not a regular file \(a FIFO\)"),
        _skipped_text("link-to-dev-zero", "endless.txt", lambda p: p.symlink_to("/dev/zero"),
                      r"not a regular file \(a character device\)"),
        _skipped_text("above-max-text-bytes", "long.txt", lambda p: p.write_text("hail " * 40),
                      "larger than 100 bytes: .* set ZOO_MAX_TEXT_BYTES to read it",
                      env=(("ZOO_MAX_TEXT_BYTES", "100"),)),
        Case("text-label-nul", "text", text_jsonl(nul_label), TRAIN_TEXTS,
             Expect(2, error=r"1 label holds control characters in JSON Lines .*: line 9 'weather\\x00'; remove")),
        Case("text-label-nfc-and-nfd", "text", text_table(two_forms), TRAIN_TEXTS, Expect(0, warning=TWO_FORMS)),
        Case("manifest-label-escape", "manifest", escape_label, TRAIN_ON_DATA,
             Expect(2, error=r"1 label holds control characters in manifest .*: line 10 'b\\x1b\[2J'")),
        Case("image-label-nfc-and-nfd-folders", "image", nfc_and_nfd_folders, TRAIN_ON_DATA,
             Expect(0, warning=r"class folders '.*' and '.*' are the same label 'café' in two Unicode forms")),
        Case("image-same-pixels-under-two-labels", "image", resaved_under_b, TRAIN_ON_DATA,
             Expect(2, error=r"same content has different labels.*a/0\.png 'a' and .*b/resaved\.png 'b'")),
        Case("option-val-is-data", "option", val_copy(None), (*TRAIN_ON_DATA, "--val", "{data}"),
             Expect(2, error=r"--val is --data \(.*\): validation needs examples training does not see")),
        Case("option-val-a-copy-of-data", "option", val_copy(None), train_val,
             Expect(2, error=r"\(--val, .*\) holds the same 8 examples as the training data")),
        Case("option-val-overlapping-data", "option", val_copy(2), train_val,
             Expect(0, warning=r"2 of the 8 examples of the validation data .* are also in the training data")),
    ]  # fmt: skip
