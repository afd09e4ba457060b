"""Tables and `zoo info` fit the terminal (COLUMNS, else 80 when output is not a terminal); --json keeps everything."""

import itertools
import json
import sys

import pytest

import zoo
from zoo.cli import main
from zoo.cli.tables import table_lines as _table_lines
from zoo.testing import TINY_IMAGE

MINILM = "all_minilm_l6_v2"


def output(capsys, monkeypatch, columns, *argv):
    if columns is None:
        if sys.__stdout__.isatty():  # pytest -s in a terminal: the terminal's width applies
            pytest.skip("stdout is a terminal")
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", str(columns))
    assert main(list(argv)) == 0
    return capsys.readouterr().out.splitlines()


def widest(lines):
    return max(map(len, lines))


@pytest.mark.parametrize("columns", [80, 60, None])  # None: not a terminal and no COLUMNS, so 80
def test_zoo_list_fits_the_width(capsys, monkeypatch, columns):
    lines = output(capsys, monkeypatch, columns, "list")
    assert widest(lines) <= (columns or 80)
    assert lines[-1] == f"{len(zoo.list_backbones())} backbones"
    header = lines[0].split()
    assert header[0] == "NAME" and "WEIGHTS" in header and "MODALITY" not in header  # INPUT says "text" already


def test_zoo_list_shows_every_column_uncut_when_there_is_room(capsys, monkeypatch):
    lines = output(capsys, monkeypatch, 200, "list")
    assert lines[0].split() == ["NAME", "FAMILY", "MODALITY", "INPUT", "FEATURES", "PARAMS", "WEIGHTS", "PLUGIN"]
    assert widest(lines) <= 200 and not any("…" in line for line in lines)
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    weights = lines[0].index("WEIGHTS")
    assert rows[TINY_IMAGE][6] == "none"  # no pretrained weights: seen before choosing it
    assert rows["resnet50"][6] == "imagenet" and rows["resnet50"][7] == "keras-applications"
    assert rows["resnet_50_imagenet"][6] == "yes"  # its tag is its name: not repeated
    assert rows["resnet50"][3] == "224x224" and rows["bert_tiny_en_uncased"][3] == "text"
    assert lines[1 + list(rows).index(MINILM)][weights:].startswith("sentence-transformers ")


def test_a_narrow_terminal_cuts_text_with_an_ellipsis_never_past_the_width(capsys, monkeypatch):
    for columns in (30, 45):
        lines = output(capsys, monkeypatch, columns, "list")
        assert widest(lines) <= columns and any(line.rstrip().endswith("…") for line in lines)


def test_json_is_whole_whatever_the_width(capsys, monkeypatch):
    specs = json.loads("\n".join(output(capsys, monkeypatch, 20, "list", "--json")))
    assert specs == [s.to_dict() for s in zoo.list_backbones()]
    assert json.loads("\n".join(output(capsys, monkeypatch, 20, "info", MINILM, "--json"))) == (
        zoo.get_spec(MINILM).to_dict()
    )
    plugins = json.loads("\n".join(output(capsys, monkeypatch, 20, "plugins", "--json")))["plugins"]
    assert any(len(p["backbones"]) > 3 for p in plugins)


@pytest.mark.parametrize("name", ["resnet50", "bert_tiny_en_uncased", MINILM])  # image, text, long values
def test_zoo_info_wraps_long_values_under_their_key(capsys, monkeypatch, name):
    spec = zoo.get_spec(name)
    narrow = output(capsys, monkeypatch, 80, "info", name)
    assert widest(narrow) <= 80
    assert all(line[:16].strip() == "" or line[:16].rstrip().endswith(":") for line in narrow)  # a hanging indent
    wide = output(capsys, monkeypatch, 300, "info", name)
    assert f"{'description:':<16}{spec.description}" in wide  # uncut where it fits
    start = next(i for i, line in enumerate(narrow) if line.startswith("preprocessing:"))
    block = [narrow[start], *itertools.takewhile(lambda line: line.startswith(" " * 16), narrow[start + 1 :])]
    assert " ".join(line[16:] for line in block) == spec.preprocessing.describe()  # every word kept, in order
    if name == MINILM:
        assert len(narrow) > len(wide)


def test_zoo_info_wraps_a_description_in_chinese_in_terminal_columns(capsys, monkeypatch, install_plugin,
                                                                    tiny_plugin_source):  # fmt: skip
    """A CJK character takes two columns: wrapping by characters let such a description run past the width."""
    from rich.cells import cell_len

    description = "一个很小的卷积网络用于测试。" * 8 + " tiny 猫"
    install_plugin("zoo-cjk", tiny_plugin_source("maoxiao", description))
    lines = output(capsys, monkeypatch, 80, "info", "maoxiao")
    assert max(map(cell_len, lines)) <= 80
    start = next(i for i, line in enumerate(lines) if line.startswith("description:"))
    block = [lines[start], *itertools.takewhile(lambda line: line.startswith(" " * 16), lines[start + 1 :])]
    assert "".join(line[16:] for line in block).replace(" ", "") == description.replace(" ", "")  # all, in order
    assert len(block) > 2


def test_zoo_plugins_fits_and_prints_each_error_in_full_under_its_plugin(capsys, monkeypatch, install_plugin):
    message = "needs torch, " + "and a GPU driver that this machine does not have, " * 3 + "so it is skipped"
    install_plugin("broken-one", f"raise ImportError({message!r})")
    with pytest.warns(UserWarning, match="broken-one"):
        zoo.plugins.registry()
    lines = output(capsys, monkeypatch, 80, "plugins")
    assert widest(lines) <= 80 and lines[0].split() == ["PLUGIN", "VERSION", "STATUS", "BACKBONES"]
    row = next(i for i, line in enumerate(lines) if line.startswith("broken-one"))
    assert lines[row].split()[1:] == ["1.0", "failed", "0"]
    note = [lines[row + 1], *[line for line in lines[row + 2 :] if line.startswith("    ")][:3]]
    assert lines[row + 1].startswith("  error: could not be loaded: ImportError: needs torch")
    assert " ".join(line.strip() for line in note).endswith("so it is skipped")


def test_table_lines_drop_dispensable_columns_then_cut_the_given_ones_then_drop_to_fit():
    header = ("NAME", "KIND", "NOTE")
    rows = [("resnet50", "image", "a note of some length")]
    assert _table_lines(header, rows, 80) == ["NAME      KIND   NOTE", "resnet50  image  a note of some length"]
    assert _table_lines(header, rows, 33, drop=("KIND",)) == ["NAME      NOTE", "resnet50  a note of some length"]
    assert _table_lines(header, rows, 20, drop=("KIND",), shrink={"NOTE": 4}) == [
        "NAME      NOTE",
        "resnet50  a note of…",
    ]
    assert _table_lines(header, rows, 19, drop_to_fit=("KIND",), shrink={"NOTE": 6}) == [
        "NAME      NOTE",
        "resnet50  a note o…",
    ]
    assert _table_lines(header, rows, 23, drop_to_fit=("KIND",), shrink={"NOTE": 6})[1] == "resnet50  image  a not…"
    assert all(len(line) <= 5 for line in _table_lines(header, rows, 5))
