"""Labels and run names are data, never markup or commands (docs/reliability.md, "Labels and names").

The model card shows them as text (no HTML, no link), its snippets quote the run's path for the shell and
for Python, the commands print the control characters of file names as escapes (labels holding them are
refused at input: test_data_hostile.py), and an export never follows a link out of the run directory.
"""

import ast
import os
import re
import shlex
import warnings

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.cli import main
from zoo.testing import TINY_IMAGE

LABELS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "cat & dog"]
HOSTILE_FILE = "\x1b]0;owned\x07\x1b[2Jcat\nfake: dog 1.000.png"  # a legal file name on Linux


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A finished run whose labels are markup, in a folder whose name is a shell command, and an image whose name
    holds terminal escapes and a newline."""
    root = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    x = np.concatenate([np.clip(rng.normal(60 + 70 * i, 20, (8, 32, 32, 3)), 0, 255) for i in range(3)])
    y = np.repeat(LABELS, 8)
    out = root / "run $(touch PWNED); touch PWNED2 `id`"
    run = zoo.train(TINY_IMAGE, (x.astype("uint8"), y), weights=None, epochs=1, out=out, verbose=0)
    Image.fromarray(x[0].astype("uint8")).save(root / HOSTILE_FILE, format="png")
    return run, root


def test_the_card_shows_labels_and_names_as_text(hostile_run):
    run, _ = hostile_run
    card = (run.path / "README.md").read_text()
    outside_code = re.sub(r"(`+).*?\1", "", card)
    assert "<" not in outside_code and "\x1b" not in card and "\x07" not in card
    assert "`<script>alert(1)</script>`" in card  # a code span: shown as it is, nothing rendered


@pytest.mark.slow
def test_the_cards_snippets_quote_the_run_path(hostile_run, tmp_path):
    run, _ = hostile_run
    lines = (run.path / "README.md").read_text().splitlines()
    folder = run.path.as_posix()
    command = next(line for line in lines if line.startswith("zoo predict "))
    assert shlex.split(command)[:3] == ["zoo", "predict", folder]  # the shell reads the path back, runs nothing
    loading = next(line for line in lines if line.startswith("model = zoo.load_model("))
    assert (
        ast.literal_eval(loading.removeprefix("model = zoo.load_model(").removesuffix(")")) == f"{folder}/model.keras"
    )
    os.chdir(tmp_path)
    os.system(command.replace("zoo predict", "true"))  # as a user pasting it would
    assert not list(tmp_path.iterdir())


def test_predict_prints_a_file_name_escaped_on_one_line(hostile_run, capsys):
    run, root = hostile_run
    assert main(["predict", str(run.path), str(root / HOSTILE_FILE), "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and len(out.splitlines()) == 1
    assert "\\x1b]0;owned\\x07\\x1b[2Jcat\\nfake: dog 1.000.png" in out and "<script>alert(1)</script>" in out


def test_an_exports_link_out_of_the_run_is_refused(hostile_run, tmp_path, capsys):
    run, _ = hostile_run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run.path / "exports").symlink_to(elsewhere)
    try:
        assert main(["export", str(run.path), "--format", "savedmodel"]) == 2
    finally:
        (run.path / "exports").unlink()
    err = capsys.readouterr().err
    assert "is a link out of the run directory" in err and len(err.strip().splitlines()) == 1
    assert not list(elsewhere.iterdir())


def test_a_label_that_looks_like_tex_is_plotted_as_text(tmp_path):
    from zoo.plots import plot_confusion_matrix

    assert plot_confusion_matrix([[3, 1], [0, 4]], ["$\\notacommand$", "b"], tmp_path / "cm.png").stat().st_size > 0


def test_labels_in_a_script_the_font_lacks_are_plotted_apart_and_quietly(tmp_path):
    """DejaVu Sans has no Chinese: matplotlib would draw both names as the same boxes, with a warning a glyph."""
    from matplotlib import font_manager, ft2font

    from zoo.plots import _drawable, plot_confusion_matrix

    font = ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties()))
    if ord("海") in font.get_charmap():
        pytest.skip("this machine's plot font draws Chinese")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "Glyph ... missing from font(s)" among them
        path = plot_confusion_matrix([[3, 1], [0, 4]], ["海滩", "中文"], tmp_path / "cm.png")
    assert path is not None and path.stat().st_size > 0
    assert (_drawable("海滩"), _drawable("中文")) == ("\\u6d77\\u6ee9", "\\u4e2d\\u6587")  # as their code points
