"""The bad-input corpus (issue 12): every hostile input, made at test time in a temporary folder.

:func:`cases` lists :class:`Case` records. ``case.make(tmp)`` writes the inputs under ``tmp`` and
returns the paths the argv names (``{data}``, ``{run}``...); ``{tmp}`` and ``{out}`` (a run directory
that must not exist beforehand) are always there. ``case.needs`` names a run the test puts at
``tmp/run`` first: ``"finished"`` or ``"interrupted"`` (Ctrl-C mid-training: checkpoints, not
complete). The outcome is an :class:`Expect`. pytest collects nothing here (``tests/conftest.py``
ignores this folder).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32  # the tiny backbone's input: every valid image is 32x32
TRAIN = ("train", "--backbone", "tiny_image", "--weights", "none", "--epochs", "1")
TRAIN_ON_DATA = (*TRAIN, "--data", "{data}", "--out", "{out}")
TEXT_BACKBONE = "tiny_text"  # zoo.testing's keras-hub BERT at one small layer: what is read matters, not the network
TRAIN_TEXTS = ("train", "--backbone", TEXT_BACKBONE, *TRAIN[3:], "--data", "{data}", "--out", "{out}")


@dataclass(frozen=True)
class Expect:
    """The outcome of a case.

    ``exit``: 0 handled (perhaps with a skip), 2 refused user input, 1 disk full. ``error``: a regex
    the one ``zoo: error:`` (or ``zoo: disk full``) line on stderr must match. ``skipped``: the file
    name the run's skipped.json must hold; for a successful ``zoo train`` without it, nothing is
    skipped. ``warning``: a regex one warning line must match (plugin and data warnings).
    """

    exit: int
    error: str | None = None
    skipped: str | None = None
    warning: str | None = None


@dataclass(frozen=True)
class Case:
    """One bad input: its id, its family, how to make it, the argv to run, and what must happen."""

    name: str
    kind: str  # image | manifest | text | option | run | config
    make: Callable[[Path], dict[str, Path]]
    args: tuple[str, ...]
    expect: Expect
    needs: str | None = None  # a run put at tmp/run before make: "finished" or "interrupted"
    env: tuple[tuple[str, str], ...] = ()  # environment variables to set, with placeholders

    def names(self, tmp: Path, paths: dict[str, Path]) -> dict[str, str]:
        """What the placeholders stand for."""
        return {k: str(v) for k, v in {"tmp": tmp, "out": tmp / "out", "run": tmp / "run", **paths}.items()}

    def argv(self, tmp: Path, paths: dict[str, Path]) -> list[str]:
        """The argv with its ``{placeholders}`` filled in."""
        return [arg.format(**self.names(tmp, paths)) for arg in self.args]

    def environ(self, tmp: Path, paths: dict[str, Path]) -> dict[str, str]:
        """The environment variables to set, with their placeholders filled in."""
        return {key: value.format(**self.names(tmp, paths)) for key, value in self.env}


# -- valid inputs --------------------------------------------------------------------------------


def pixels(seed: int, shape: tuple[int, ...] = (SIZE, SIZE, 3)) -> np.ndarray:
    """Random uint8 pixels, different for every seed."""
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    """``image`` encoded as ``format`` (PNG, JPEG, GIF...)."""
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def image_folder(root: Path) -> Path:
    """Two classes, ``a`` and ``b``, of four valid 32x32 PNGs each (no two alike)."""
    for c, label in enumerate("ab"):
        (root / label).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(pixels(100 + 10 * c + i)).save(root / label / f"{i}.png")
    return root


def with_file(name: str, write: Callable[[Path], object]) -> Callable[[Path], dict[str, Path]]:
    """``make``: the valid folder at ``tmp/data``, plus ``write(path)`` making ``data/a/name``."""

    def make(tmp: Path) -> dict[str, Path]:
        data = image_folder(tmp / "data")
        write(data / "a" / name)
        return {"data": data}

    return make


def data_only(tmp: Path) -> dict[str, Path]:
    """``make``: just the valid folder at ``tmp/data``."""
    return {"data": image_folder(tmp / "data")}


def dangling_out(tmp: Path) -> dict[str, Path]:
    """``make``: the valid folder, and ``tmp/out`` a symbolic link to a folder that does not exist."""
    (tmp / "out").symlink_to(tmp / "nowhere")
    return data_only(tmp)


# -- bad images ----------------------------------------------------------------------------------


def truncated(format: str) -> Callable[[Path], object]:
    def write(path: Path) -> None:
        data = encoded(Image.fromarray(pixels(7)), format)
        path.write_bytes(data[: len(data) // 2])

    return write


def cmyk_jpeg(path: Path) -> None:
    Image.fromarray(pixels(8, (SIZE, SIZE, 4)), "CMYK").save(path, "JPEG")


def grey16_png(path: Path) -> None:
    grey = np.random.default_rng(9).integers(0, 65536, (SIZE, SIZE), dtype=np.uint16)
    Image.fromarray(grey).save(path, "PNG")  # mode I;16


def palette_png(path: Path) -> None:
    image = Image.fromarray(pixels(10)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    image.save(path, "PNG", transparency=0)


def exif_rotated_jpeg(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(pixels(11, (SIZE, 2 * SIZE, 3))).save(path, "JPEG", exif=exif.tobytes())


def animated_gif(path: Path) -> None:
    frames = [Image.fromarray(pixels(12 + i)).convert("P") for i in range(3)]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)  # points at itself


def dangling_symlink(path: Path) -> None:
    path.symlink_to(path.parent / "gone.png")


def fifo(path: Path) -> None:
    os.mkfifo(path)  # opened to read, it waits for a writer forever


def dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")  # read whole, it fills the memory


def bomb(path: Path) -> None:
    Image.new("1", (12000, 12000)).save(path, "PNG")  # 144 megapixels in a few hundred KB


def folder(path: Path) -> None:
    path.mkdir()


def under_two_labels(tmp: Path) -> dict[str, Path]:
    """``make``: a file of class ``a`` copied into class ``b`` (the same bytes, two labels)."""
    data = image_folder(tmp / "data")
    shutil.copyfile(data / "a" / "0.png", data / "b" / "copy.png")
    return {"data": data}


# -- manifests -----------------------------------------------------------------------------------


def manifest(text: str | bytes, extra: Callable[[Path], object] | None = None) -> Callable[[Path], dict[str, Path]]:
    """``make``: eight valid images in ``tmp/images`` and ``text`` as ``tmp/manifest.csv`` (``{rows}``: theirs)."""

    def make(tmp: Path) -> dict[str, Path]:
        images = tmp / "images"
        images.mkdir()
        rows = []
        for i in range(8):
            Image.fromarray(pixels(200 + i)).save(images / f"{i}.png")
            rows.append(f"images/{i}.png,{'ab'[i % 2]}")
        if extra is not None:
            extra(tmp)
        body = "\n".join(rows)
        content = text.replace(b"{rows}", body.encode()) if isinstance(text, bytes) else text.format(rows=body)
        path = tmp / "manifest.csv"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return {"data": path}

    return make


def non_utf8_file(tmp: Path) -> None:
    """An image whose file name has a byte that is not UTF-8 (0xE9, Latin-1 e-acute)."""
    Image.fromarray(pixels(300)).save(os.fsdecode(os.fsencode(str(tmp / "images")) + b"/caf\xe9.png"))


# -- texts ---------------------------------------------------------------------------------------

TEXTS = ("rain by noon", "sunny all day", "snow tonight", "wind and hail", "goal in the last minute",
         "the match was a draw", "a new league record", "two red cards")  # fmt: skip


def text_table(extra: bytes, sep: str = ",") -> Callable[[Path], dict[str, Path]]:
    """``make``: eight texts of two topics as CSV (TSV for a tab ``sep``), plus the ``extra`` bytes as more rows."""

    def make(tmp: Path) -> dict[str, Path]:
        rows = [f"{t}{sep}{'weather' if i < 4 else 'sport'}" for i, t in enumerate(TEXTS)]
        path = tmp / ("texts.tsv" if sep == "\t" else "texts.csv")
        path.write_bytes((f"text{sep}label\n" + "\n".join(rows) + "\n").encode() + extra)
        return {"data": path}

    return make


def text_jsonl(extra: bytes) -> Callable[[Path], dict[str, Path]]:
    """``make``: eight texts as JSON Lines, plus the ``extra`` bytes as more lines."""

    def make(tmp: Path) -> dict[str, Path]:
        lines = [f'{{"text": "{t}", "label": "{"weather" if i < 4 else "sport"}"}}' for i, t in enumerate(TEXTS)]
        path = tmp / "texts.jsonl"
        path.write_bytes(("\n".join(lines) + "\n").encode() + extra)
        return {"data": path}

    return make


# -- runs ----------------------------------------------------------------------------------------


def damage(*names: str, how: str = "garble") -> Callable[[Path], dict[str, Path]]:
    """``make``: the run at ``tmp/run`` with each file ``names`` (globs) garbled or truncated to half."""

    def make(tmp: Path) -> dict[str, Path]:
        run = tmp / "run"
        hit = [p for name in names for p in sorted(run.glob(name))]
        assert len(hit) >= len(names), f"no {names} in {run}"
        for path in hit:
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2] if how == "truncate" else b"{not json")
        return {"data": image_folder(tmp / "data"), "image": tmp / "data" / "a" / "0.png"}

    return make


def edited_labels(tmp: Path) -> dict[str, Path]:
    """``make``: the finished run at ``tmp/run`` with its labels.json reversed by hand."""
    labels = tmp / "run" / "labels.json"
    labels.write_text(json.dumps(json.loads(labels.read_text())[::-1]))
    return {"data": image_folder(tmp / "data"), "image": tmp / "data" / "a" / "0.png"}


def texts_csv(tmp: Path) -> dict[str, Path]:
    """``make``: texts under the image run's own labels, ``a`` and ``b``, at ``tmp/texts.csv``."""
    (tmp / "texts.csv").write_text("text,label\na cat sat,a\nthe dog ran,b\n")
    return {"data": image_folder(tmp / "data"), "texts": tmp / "texts.csv"}


def edited_options(**options: object) -> Callable[[Path], dict[str, Path]]:
    """``make``: the run at ``tmp/run`` with the options in its config.json edited by hand."""

    def make(tmp: Path) -> dict[str, Path]:
        config = json.loads((tmp / "run" / "config.json").read_text())
        config["train"].update(options)
        (tmp / "run" / "config.json").write_text(json.dumps(config))
        return {"data": image_folder(tmp / "data"), "image": tmp / "data" / "a" / "0.png"}

    return make


def not_a_run(tmp: Path) -> dict[str, Path]:
    data = image_folder(tmp / "data")
    return {"data": data, "run": data, "image": data / "a" / "0.png"}


def foreign_config(text: str) -> Callable[[Path], dict[str, Path]]:
    """``make``: ``{run}``, a folder whose config.json holds ``text`` (another tool's, or a run's damaged)."""

    def make(tmp: Path) -> dict[str, Path]:
        data = image_folder(tmp / "data")
        (tmp / "run").mkdir()
        (tmp / "run" / "config.json").write_text(text)
        return {"data": data, "image": data / "a" / "0.png"}

    return make


HF_CONFIG = '{"model_type": "bert", "vocab_size": 14, "hidden_size": 128}'  # a Hugging Face checkpoint's
NOT_A_ZOO_CONFIG = r"run/config\.json is not a zoo run's configuration \(it has no 'train', 'model', 'data' records\)"


# -- configs -------------------------------------------------------------------------------------


def config_file(text: str | None) -> Callable[[Path], dict[str, Path]]:
    """``make``: ``{config}``, a TOML file with ``text``; ``None``: a missing file; ``""``: a folder."""

    def make(tmp: Path) -> dict[str, Path]:
        path = tmp / "backbones.toml"
        if text == "":
            path.mkdir()
        elif text is not None:
            path.write_text(text.replace("{tmp}", str(tmp)))
        return {"config": path}

    return make


BAD_SCALE = """
[backbones.my_net]
source = "savedmodel"
path = "{tmp}"
input_shape = [32, 32, 3]
feature_dim = 4
preprocessing = { mode = "unit", scale = "abc" }
"""


# -- the corpus ----------------------------------------------------------------------------------


def _image(name: str, file: str, write: Callable[[Path], object], expect: Expect) -> Case:
    return Case(f"image-{name}", "image", with_file(file, write), TRAIN_ON_DATA, expect)


def _manifest(name: str, text: str | bytes, expect: Expect, **options: object) -> Case:
    return Case(f"manifest-{name}", "manifest", manifest(text, **options), TRAIN_ON_DATA, expect)


def _text(name: str, make: Callable[[Path], dict[str, Path]], expect: Expect) -> Case:
    return Case(f"text-{name}", "text", make, TRAIN_TEXTS, expect)


def _run(name: str, make: Callable, args: tuple[str, ...], error: str, needs: str | None = "interrupted") -> Case:
    """A command on a run at ``tmp/run`` (``needs``: finished or interrupted) that must be refused."""
    return Case(f"run-{name}", "run", make, args, _refused(error), needs=needs)


def _config(name: str, text: str | None, warning: str) -> Case:
    """``zoo list`` with ``ZOO_CONFIG`` at a bad file: it works, and one warning names the problem."""
    expect = Expect(0, warning="PluginWarning: backbone-zoo plugin 'user-config' failed: .*" + warning)
    return Case(f"config-{name}", "config", config_file(text), ("list",), expect, env=(("ZOO_CONFIG", "{config}"),))


def _skip(file: str, reason: str) -> Expect:
    return Expect(0, skipped=file, warning=rf"skipped 1 of 9 images.*{file} \(.*{reason}")


def _refused(pattern: str) -> Expect:
    return Expect(2, error=pattern)


HEADER = "path,label\n"
FIELDS = r"more or fewer fields than the 2 of the header \(line 10 \(3\)\); put fields that contain a "
REPAIRED = r"replaced bytes that are not UTF-8 with U\+FFFD in 1 of 9 texts .*: line {}$"
REPEATED = r"1 of 9 examples .* repeat the content of another.*0\.png \(line 10\)"
HUGE_TARGETS = "path,label\n" + "".join(f"images/{i}.png,{(i + 1) * 1e20}\n" for i in range(8))  # trained to inf
EDITED_LABELS = r"run/labels\.json says \['b', 'a'\], but the run was trained with \['a', 'b'\]: the file was changed"
UNREADABLE = r"run/{}\.json cannot be read \(.*\); the run directory is damaged"
CHECKPOINT, DAMAGED_CHECKPOINT = "checkpoints/*.weights.h5", r"weights\.h5 .*damaged|damaged.*weights\.h5"
ARRAYS, DAMAGED_ARRAYS = "checkpoints/*.npz", r"\.npz .*damaged|damaged.*\.npz"
NON_UTF8_JSON = b'{"text": "caf\xe9", "label": "sport"}\n'
TOP_K = "--top-k must be at least 1, got 0"
PREDICT_TOP_K_0 = ("predict", "{run}", "{image}", "--top-k", "0")
RANK_NONET = ("rank", "--data", "{data}", "--backbones", "nonet*")
TWO_LABELS = r"same content has different labels.*a/0\.png 'a' and .*b/copy\.png 'b'"


def cases() -> list[Case]:
    """Every case of the corpus."""
    ok = Expect(0)
    noise = lambda p: p.write_bytes(os.urandom(2048))  # noqa: E731
    images = [
        _image("zero-byte", "empty.png", lambda p: p.write_bytes(b""), _skip("empty.png", "empty file")),
        _image("truncated-png", "cut.png", truncated("PNG"), _skip("cut.png", "truncated")),
        _image("truncated-jpeg", "cut.jpg", truncated("JPEG"), _skip("cut.jpg", "Truncated")),
        _image("random-bytes", "noise.png", noise, _skip("noise.png", "not an image")),
        _image("cmyk-jpeg", "cmyk.jpg", cmyk_jpeg, ok),
        _image("16-bit-grey-png", "grey16.png", grey16_png, ok),
        _image("palette-png-transparency", "palette.png", palette_png, ok),
        _image("exif-rotated-jpeg", "rotated.jpg", exif_rotated_jpeg, ok),
        _image("animated-gif", "anim.gif", animated_gif, ok),
        _image("symlink-loop", "loop.png", symlink_loop, _skip("loop.png", "Too many levels of symbolic links")),
        _image("dangling-symlink", "dangling.png", dangling_symlink, _skip("dangling.png", "No such file")),
        _image("fifo", "x.png", fifo, _skip("x.png", r"not a regular file \(a FIFO\)")),
        _image("link-to-dev-zero", "y.png", dev_zero, _skip("y.png", r"not a regular file \(a character device")),
        _image("decompression-bomb", "bomb.png", bomb, _skip("bomb.png", "144 megapixels, above the zoo's limit")),
        _image("folder-named-png", "z.png", folder, ok),  # an empty folder: nothing to read
        Case("image-under-two-labels", "image", under_two_labels, TRAIN_ON_DATA, _refused(TWO_LABELS)),
    ]
    rows = HEADER + "{rows}\n"
    manifests = [
        _manifest("bom", "\ufeff" + rows, ok),
        _manifest("crlf", rows.replace("\n", "\r\n"), ok),
        _manifest(
            "non-utf8-path",
            rows.encode() + b"images/caf\xe9.png,a\n",
            _refused("is not UTF-8 on line 10"),
            extra=non_utf8_file,
        ),
        _manifest("extra-comma", rows + "images/0.png,a,b\n", _refused(FIELDS + "comma")),
        _manifest("missing-column", "path\nimages/0.png\n", _refused(r"has no column 'label' \(its columns: 'path'\)")),
        _manifest("missing-file", rows + "images/gone.png,a\n", _skip("gone.png", "file not found")),
        _manifest("duplicate-row", rows + "images/0.png,a\n", Expect(0, warning=REPEATED)),
        Case(
            "manifest-regression-targets-1e20",
            "manifest",
            manifest(HUGE_TARGETS),
            (*TRAIN_ON_DATA, "--task", "regression"),
            _refused(r"regression targets of .* reach 8e\+20: their squares overflow the float32"),
        ),
        _manifest("empty", "", _refused(r"has no column 'path', 'label' \(its columns: none\)")),
    ]
    texts = [
        _text("csv-non-utf8", text_table(b"caf\xe9 au lait,weather\n"), Expect(0, warning=REPAIRED.format(10))),
        _text("jsonl-non-utf8", text_jsonl(NON_UTF8_JSON), Expect(0, warning=REPAIRED.format(9))),
        _text("csv-empty-text", text_table(b",weather\n"), ok),  # kept: an empty text is a text
        _text("tsv-unquoted-tab", text_table(b"a tab\there\tweather\n", sep="\t"), _refused(FIELDS + "tab")),
    ]
    options = (
        [
            Case(
                f"option-{flag.strip('-')}-{value}", "option", data_only, (*TRAIN_ON_DATA, flag, value), _refused(match)
            )
            for flag, value, match in [
                ("--epochs", "0", "epochs must be a positive integer, got 0"),
                ("--batch-size", "0", "batch_size must be a positive integer, got 0"),
                ("--lr", "nan", "learning_rate must be a positive number, got nan"),
                ("--dropout", "2", r"dropout must be in \[0, 1\), got 2"),
                ("--augment", "bogus", r"unknown augmentation \['bogus'\]; known: "),
                ("--patience", "-1", "patience must be a positive integer, got -1"),
                ("--fine-tune", "99", r"fine_tune must be between 1 and 3 \(blocks of tiny_image\), got 99"),
                (
                    "--seed",
                    "4294967296",
                    r"seed must be an integer from 0 to 2\*\*32 - 1 \(4294967295\), got 4294967296",
                ),
            ]
        ]
        + [
            Case(
                "option-out-dangling-symlink",
                "option",
                dangling_out,
                TRAIN_ON_DATA,
                _refused(r"out is a symbolic link to .*nowhere, which does not exist; pick another --out"),
            ),
            Case(
                "option-cache-dir-a-file",
                "option",
                data_only,
                TRAIN_ON_DATA,
                _refused(r"the feature cache folder .*0\.png is a file: set ZOO_CACHE_DIR"),
                env=(("ZOO_CACHE_DIR", "{data}/a/0.png"),),
            ),
        ]
        + [
            Case("option-top-k-0", "option", damage(), PREDICT_TOP_K_0, _refused(TOP_K), needs="finished"),
            Case("option-rank-no-match", "option", data_only, RANK_NONET, _refused("no backbone matches 'nonet\\*'")),
        ]
    )
    commands = {
        "resume": ("train", "--resume", "{run}"),
        "evaluate": ("evaluate", "{run}", "--data", "{data}"),
        "predict": ("predict", "{run}", "{image}"),
    }
    runs = [
        _run(f"{what}-{command}", make, args, match, needs)
        for what, make, match, needs in [
            ("corrupt-state", damage("state.json"), UNREADABLE.format("state"), "finished"),
            ("corrupt-config", damage("config.json"), UNREADABLE.format("config"), "finished"),
            ("truncated-model", damage("model.keras", how="truncate"), r"model\.keras is damaged \(not a", "finished"),
            ("not-a-run", not_a_run, r"data is not a run directory \(no config.json\)", None),
            ("foreign-config", foreign_config(HF_CONFIG), NOT_A_ZOO_CONFIG, None),
            ("config-of-wrong-types", foreign_config('{"train": 5, "model": [], "data": {}}'), NOT_A_ZOO_CONFIG, None),
        ]
        for command, args in commands.items()
    ] + [
        _run(
            "foreign-config-as-out",
            foreign_config(HF_CONFIG),
            (*TRAIN, "--data", "{data}", "--out", "{run}"),
            r"run holds a config\.json that is not a zoo run's; pick another --out",
            None,
        ),
        _run("unfinished-corrupt-state-resume", damage("state.json"), commands["resume"], UNREADABLE.format("state")),
        _run("edited-labels-predict", edited_labels, commands["predict"], EDITED_LABELS, "finished"),
        _run(
            "image-run-evaluated-on-texts",
            texts_csv,
            ("evaluate", "{run}", "--data", "{texts}"),
            r"run is an image model but .*texts\.csv.* holds texts: give it images",
            "finished",
        ),
        _run(
            "config-seed-2-40-resume",
            edited_options(seed=2**40),
            commands["resume"],
            r"run/config\.json holds an option the zoo cannot use: seed must be an integer from 0 to 2\*\*32 - 1",
        ),
        _run("truncated-checkpoint-resume", damage(CHECKPOINT, how="truncate"), commands["resume"], DAMAGED_CHECKPOINT),
        _run("truncated-arrays-resume", damage(ARRAYS, how="truncate"), commands["resume"], DAMAGED_ARRAYS),
    ]
    configs = [
        _config("missing", None, "backbones.toml does not exist: point it at"),
        _config("folder", "", "backbones.toml is a folder: point it at"),
        _config("bad-scale", BAD_SCALE, r"preprocessing.scale must be a finite number, got 'abc'"),
        _config("invalid-toml", "[backbones.x\nsource = ", "backbones.toml is not valid TOML: Expected"),
    ]
    return images + manifests + texts + options + runs + configs + round_two()


def round_two() -> list[Case]:
    """The cases of hostile round two (issue 20), one module of this package per area (``tests/corpus/<area>.py``,
    each with its own ``cases()``): a new case is one line there."""
    import importlib
    import pkgutil

    modules = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [case for name in modules for case in importlib.import_module(f"{__name__}.{name}").cases()]
