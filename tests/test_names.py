"""Backbone names: normalised lookups, Hugging Face ids as aliases, suggestions, substring listing, rank's selection."""

import dataclasses
import json

import pytest

import zoo
from zoo import hookimpl
from zoo.cli import main
from zoo.plugins import load_registry, select_backbones
from zoo.testing import tiny_specs

MINILM = "all_minilm_l6_v2"
MINILM_HF = "sentence-transformers/all-MiniLM-L6-v2"


def unknown(name: str) -> str:
    with pytest.raises(zoo.UnknownBackboneError) as caught:
        zoo.get_spec(name)
    return str(caught.value)


def test_case_and_separators_do_not_count_in_a_lookup():
    for name in ("mobilenet_v2", "MobileNet-V2", "mobilenet.v2", " Mobilenet V2 ", "MOBILENET__V2"):
        assert zoo.get_spec(name).name == "mobilenet_v2", name
    assert zoo.get_spec("ResNet50V2").name == "resnet50_v2"  # the keras class name, an alias


def test_only_an_exact_name_resolves_the_rest_is_suggested():
    message = unknown("resnet-50")  # resnet50 (keras.applications) or resnet_50_imagenet (keras-hub)? not guessed
    suggested = message.split("Did you mean: ")[1].split("?")[0].split(", ")
    assert suggested[:2] == ["resnet50", "resnet50_v2"] and "resnet_50_imagenet" in suggested
    assert f"Did you mean: {MINILM}?" in unknown("minilm")  # a unique substring is still not a name


def test_a_hugging_face_id_is_an_alias_of_its_backbone():
    assert MINILM_HF in zoo.get_spec(MINILM).aliases
    assert zoo.get_spec(MINILM_HF).name == MINILM
    assert zoo.get_spec(MINILM_HF.lower()).name == MINILM
    assert [s.name for s in zoo.list_backbones("sentence-transformers/*")] == [MINILM]
    assert [s.name for s in zoo.list_backbones(MINILM_HF)] == [MINILM]
    assert f"Did you mean: {MINILM}?" in unknown("sentence-transformers/all-MiniLM-L12-v2")


def test_suggestions_contain_the_name_first_in_natural_order_then_similar_names():
    assert "Did you mean: efficientnet_b0, efficientnet_b1, efficientnet_b2, efficientnet_b3, efficientnet_b4?" in (
        unknown("effnet")
    )
    assert "Did you mean: densenet121," in unknown("densenet12")  # contains it, shortest first
    assert "Did you mean: efficientnet_b0," in unknown("efficentnet_b0")  # a typo
    assert "Did you mean" not in unknown("qqqqqq")


class _Numbered:
    """A plugin with names that sort differently as text and as numbers."""

    @hookimpl
    def register_backbones(self):
        spec = tiny_specs()[0]
        return [dataclasses.replace(spec, name=f"net_b{i}") for i in (10, 2, 1)] + [
            dataclasses.replace(spec, name="other_net_b3")
        ]


def test_equally_close_names_come_in_natural_order_and_a_word_start_first():
    registry = load_registry(allow=[], extra_plugins={"numbered": _Numbered()})
    assert registry.suggest("net") == ["net_b1", "net_b2", "net_b10", "other_net_b3"]
    assert registry.suggest("b1") == ["net_b1", "net_b10"]
    assert [s.name for s in registry.list("NET-B1")] == ["net_b1", "net_b10"]  # a substring
    assert [s.name for s in registry.list("net_b?")] == ["net_b1", "net_b2"]  # fnmatch
    assert [s.name for s in registry.list("net_b[1-2]")] == ["net_b1", "net_b2"]  # "-" in a set is a range


def test_listing_matches_substrings_and_patterns_case_and_separators_aside():
    assert [s.name for s in zoo.list_backbones("minilm")] == [MINILM]
    found = [s.name for s in zoo.list_backbones("ResNet-50")]
    assert {"resnet50", "resnet50_v2", "resnet_50_imagenet"} <= set(found) and "resnet101" not in found
    assert [s.name for s in zoo.list_backbones("efficientnet_b?")] == [f"efficientnet_b{i}" for i in range(8)]
    assert [s.name for s in zoo.list_backbones("EfficientNet-B[0-2]")] == ["efficientnet_b0", "efficientnet_b1",
                                                                            "efficientnet_b2"]  # fmt: skip
    assert zoo.list_backbones("resnet-5*") == [zoo.get_spec("resnet_50_imagenet")]  # a pattern: separators count


def test_zoo_list_substring_and_a_hint_when_nothing_matches(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["list", "minilm"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[0] == MINILM and out.endswith("1 backbone\n")
    assert main(["list", "effnet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "0 backbones match 'effnet'"
    assert lines[1].startswith("did you mean: efficientnet_b0, efficientnet_b1,") and "`zoo list`" in lines[1]
    assert main(["list", "qqqqqq"]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 backbones match 'qqqqqq'", "try `zoo list` for all of them"]
    assert main(["list", "effnet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_an_unknown_name_exits_2_with_its_suggestions_on_one_line(capsys):
    assert main(["info", "resnet-50"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("zoo: error: Unknown backbone 'resnet-50'. Did you mean: resnet50,")
    assert "resnet_50_imagenet" in err and "zoo list" in err
    assert main(["info", MINILM_HF.upper()]) == 0


def test_rank_selects_exact_names_and_patterns_without_guessing(capsys, tmp_path):
    names = [s.name for s in select_backbones(["ResNet50", "efficientnet_b[01]", "resnet50", MINILM_HF])]
    assert names == ["resnet50", "efficientnet_b0", "efficientnet_b1", MINILM]
    with pytest.raises(zoo.UnknownBackboneError, match=f"Did you mean: {MINILM}"):
        select_backbones(["resnet50", "minilm"])  # listing finds it; ranking never guesses
    with pytest.raises(zoo.UnknownBackboneError, match="no image backbone matches 'bert_tiny_en_uncased'"):
        select_backbones("bert_tiny_en_uncased", modality="image")
    with pytest.raises(
        zoo.UnknownBackboneError, match="no backbone matches 'effnet\\*'. Did you mean: efficientnet_b0"
    ):
        select_backbones("effnet*")
    assert main(["rank", "--data", str(tmp_path), "--backbones", "resnet50", "resnet-50"]) == 2  # before any data
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Unknown backbone 'resnet-50'. Did you mean: resnet50," in err
