"""What every first-party backbone's factory builds, recorded once: parameters, feature shape, pyramid maps.

tests/builds.json holds, for each backbone of the first-party plugins, what its network (random weights, at
its declared input size) has and gives: its parameters (all, and trainable), its feature shape, and the
shape of each declared pyramid level's map. The specs are checked against the record without building
anything; `make test` builds the smallest member of each family and compares it with the record.
`make test-all` builds every backbone (``ZOO_SWEEP=1``), checks each pyramid's maps against its network's
layers at the declared size (:func:`test_pyramid.check_pyramid`), and rewrites the record (``ZOO_SWEEP=write``):
run it whenever a plugin's tables or the version of keras, keras-hub or keras-cv change, and commit the record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np
import pytest
from test_pyramid import check_pyramid
from zoo_keras_hub.images import IMAGES

import zoo
from zoo.backbones import build_network, pyramid_sizes

RECORD = Path(__file__).with_name("builds.json")
SWEEP = os.environ.get("ZOO_SWEEP", "")  # "1": build every backbone; "write": and rewrite the record
FIRST_PARTY = (
    "backbone-zoo-keras-applications",
    "backbone-zoo-keras-cv",
    "backbone-zoo-keras-hub",
    "zoo-example-plugin",
)  # TF Hub's backbones are SavedModels the user downloads: no network to count here
# Built offline from nothing but the spec, except where the factory needs a file the hub would send.
UNBUILT = {"roberta_base_en": "its BPE vocabulary comes with the weights (test_text.py checks its declared count)"}
SPECS = {s.name: s for s in zoo.list_backbones() if s.plugin in FIRST_PARTY and s.name not in UNBUILT}
# Position embeddings make a ViT's count depend on the input size: DINOv2 declares it at its 518x518 checkpoint.
PARAMS_SIZE = {image.name: image.params_size for image in IMAGES if image.params_size}
RECORDED = json.loads(RECORD.read_text()) if RECORD.exists() else {}
MEASURED: dict[str, dict] = {}  # what this session built, for ZOO_SWEEP=write


def measure(spec: zoo.BackboneSpec) -> dict:
    """What the factory builds at the declared input size, with random weights."""
    built = build_network(spec, None, spec.input_shape)
    network = built.encoder if spec.modality == "text" else built
    library = getattr(network, "pyramid_level_inputs", None)
    assert (library is not None) == (spec.plugin == "backbone-zoo-keras-cv"), spec.name
    if library is not None:  # KerasCV declares its own levels: the spec names the same layers
        assert spec.pyramid == {level: layer for level, layer in library.items() if level in spec.pyramid}
    shape = network.output_shape[-1:] if spec.modality == "text" else network.output_shape[1:]
    found = {"params": network.count_params(), "trainable_params": _trainable(network), "feature_shape": list(shape)}
    if spec.pyramid:
        found["pyramid"] = {
            level: list(network.get_layer(layer).output.shape[1:]) for level, layer in spec.pyramid.items()
        }
    if spec.name in PARAMS_SIZE:
        size = PARAMS_SIZE[spec.name]
        found["params_size"] = size
        found["params"] = build_network(spec, None, (size, size, 3)).count_params()
    keras.backend.clear_session()
    return found


def _trainable(network: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in network.trainable_weights)


def swept(specs: Iterable[zoo.BackboneSpec]) -> list[str]:
    """The names `make test` builds: the smallest member of each family of each plugin; under ZOO_SWEEP
    (`make test-all`) every one."""
    if SWEEP:
        return sorted(spec.name for spec in specs)
    smallest: dict[tuple, zoo.BackboneSpec] = {}
    for spec in specs:
        key = (spec.plugin, spec.family)
        if key not in smallest or spec.params < smallest[key].params:
            smallest[key] = spec
    return sorted(spec.name for spec in smallest.values())


def test_the_record_covers_every_first_party_backbone():
    missing, stale = sorted(set(SPECS) - set(RECORDED)), sorted(set(RECORDED) - set(SPECS))
    assert not missing and not stale, f"record {missing=} {stale=}: `make test-all` rewrites tests/builds.json"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_spec_declares_what_its_network_has(name):
    """The declared count, feature shape and pyramid are what the built network has (no build: the record)."""
    spec, recorded = SPECS[name], RECORDED.get(name)
    if recorded is None:
        pytest.fail(f"{name} is not in tests/builds.json: `make test-all` records it")
    assert recorded["params"] == spec.params
    assert tuple(recorded["feature_shape"]) == spec.feature_shape
    sizes = pyramid_sizes(spec)
    assert {level: tuple(shape[:2]) for level, shape in recorded.get("pyramid", {}).items()} == sizes
    assert all(shape[2] > 0 for shape in recorded.get("pyramid", {}).values())


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=[] if SWEEP else [pytest.mark.slow]) for name in swept(SPECS.values())],
)
def test_the_network_is_what_the_record_says(name):
    """`make test`: one member of each family; `make test-all`: every backbone, and the record rewritten."""
    found = measure(SPECS[name])
    MEASURED[name] = found
    if SWEEP and SPECS[name].pyramid:  # `make test` checks the maps of one pyramid of each plugin (test_pyramid.py)
        check_pyramid(name, input_shape=SPECS[name].input_shape[:2], batch=1)
        keras.backend.clear_session()
    if SWEEP != "write":
        assert found == RECORDED.get(name), f"{name}: the record differs from the build: `make test-all` rewrites it"


@pytest.mark.skipif(SWEEP != "write", reason="ZOO_SWEEP=write rewrites the record after the sweep")
def test_write_the_record():
    """Last in this file: every backbone was measured above, in this process (the sweep runs without xdist)."""
    assert set(MEASURED) == set(SPECS), "ZOO_SWEEP=write: the sweep runs in one process (-n 0; see make test-all)"
    lines = [f"{json.dumps(name)}: {json.dumps(found)}" for name, found in sorted(MEASURED.items())]
    RECORD.write_text("{\n" + ",\n".join(lines) + "\n}\n")  # one line a backbone: a change is a one-line diff
