"""Round two (issue 20, items 7, 8 and 18): model files whose config names code outside Keras, a damaged
``zoo.json``, a ``block_pattern`` that backtracks, a ``KERAS_BACKEND`` Keras cannot start, and a plugin time
limit that is not a number. The hostile ``model.keras`` files are a real run's, with ``config.json`` or
``zoo.json`` edited inside the zip; :mod:`tests.test_plugin_hostile` uses the same edits."""

from __future__ import annotations

import base64
import importlib.util
import json
import marshal
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.corpus import Case, Expect, image_folder

MARKER = "PWNED"  # what the hostile configs' commands would create in the working directory, were they run
COMMAND = f"touch {MARKER}"
CALL = f"__import__('os').system({COMMAND!r})"  # the code of the hostile lambda
OS_SYSTEM_CLASS = {"module": "os", "class_name": "system", "registered_name": "system", "config": {"command": COMMAND}}
OS_SYSTEM_FUNCTION = {"module": "os", "class_name": "function", "registered_name": "function", "config": "system"}
LAMBDA = {
    "module": "keras.layers",
    "class_name": "__lambda__",
    "registered_name": None,
    "config": {
        "code": base64.b64encode(marshal.dumps(compile(CALL, "<x>", "eval"))).decode(),
        "defaults": None,
        "closure": None,
    },
}
DEEP = "@deep@"  # replaced by a Tokenize nested thousands deep, which json.dumps cannot write
SAFE_MODE = r"refused by Keras' safe mode \({}"
BACKTRACKS = r"refuses its block_pattern '\(a\+\)\+\$': it repeats a group"


def tokenize(tokenizer: Any) -> dict[str, Any]:
    """The config of a zoo ``Tokenize`` layer around ``tokenizer``."""
    config = {"name": "tokenize", "tokenizer": tokenizer, "sequence_length": 8, "outputs": {"token_ids": "int32"}}
    return {"module": "zoo.layers", "class_name": "Tokenize", "registered_name": "zoo>Tokenize", "config": config}


def _layer(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(layer for layer in config["config"]["layers"] if layer["name"] == name)


def as_class(replacement: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """An edit of config.json: the model's preprocessing layer becomes ``replacement`` (its wiring kept)."""
    return lambda config: _layer(config, "preprocessing").update(replacement)


def activation(value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit of config.json: the first convolution of the tiny backbone gets the activation ``value``."""

    def edit(config: dict[str, Any]) -> None:
        network = _layer(config, "tiny_image")
        next(layer for layer in network["config"]["layers"] if layer["class_name"] == "Conv2D")["config"].update(
            activation=value
        )

    return edit


# name -> an edit of config.json, and the reason the refusal gives
HOSTILE_CONFIGS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "os-system-class": (as_class(OS_SYSTEM_CLASS), "Could not locate class 'system'"),
    "os-system-activation": (activation(OS_SYSTEM_FUNCTION), "Could not locate function 'system'"),
    "os-system-activation-name": (activation("os.system"), "Could not interpret activation function identifier"),
    "lambda-activation": (activation(LAMBDA), "Requested the deserialization of a Python lambda"),
    "nested-tokenize": (as_class(tokenize(tokenize(OS_SYSTEM_CLASS))), "Could not locate class 'system'"),
    "deep-tokenize": (as_class(tokenize(DEEP)), "maximum recursion depth exceeded"),
}


def rewrite_model(
    path: Path,
    config: Callable[[dict[str, Any]], None] | None = None,
    zoo_json: Callable[[dict[str, Any]], None] | bytes | None = None,
) -> Path:
    """Rewrite the ``.keras`` zip at ``path``: ``config`` edits its config.json; ``zoo_json`` edits its zoo.json,
    or (bytes) replaces it."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if config is not None:
        edited = json.loads(members["config.json"])
        config(edited)
        head, tail = json.dumps(tokenize("@")).split('"@"')
        deep = head * 5000 + json.dumps(OS_SYSTEM_CLASS) + tail * 5000
        members["config.json"] = json.dumps(edited).replace(f'"{DEEP}"', deep).encode()
    if callable(zoo_json):
        edited = json.loads(members["zoo.json"])
        zoo_json(edited)
        members["zoo.json"] = json.dumps(edited).encode()
    elif zoo_json is not None:
        members["zoo.json"] = zoo_json
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def backtracking(config: dict[str, Any]) -> None:
    """An edit of zoo.json: a block pattern that backtracks for hours on a long layer name."""
    config["block_pattern"] = "(a+)+$"


def _model(name: str, args: tuple[str, ...], error: str, **edits: Any) -> Case:
    """A command on the finished run at ``tmp/run`` whose model.keras was edited: refused in one line."""

    def make(tmp: Path) -> dict[str, Path]:
        rewrite_model(tmp / "run" / "model.keras", **edits)
        data = image_folder(tmp / "data")
        return {"data": data, "image": data / "a" / "0.png"}

    return Case(f"plugins-model-{name}", "run", make, args, Expect(2, error=error), needs="finished")


def _image(tmp: Path) -> dict[str, Path]:
    data = image_folder(tmp / "data")
    return {"data": data, "image": data / "a" / "0.png"}


PREDICT = ("predict", "{run}", "{image}")
EVALUATE = ("evaluate", "{run}", "--data", "{data}")


def cases() -> list[Case]:
    """The cases of this area."""
    models = [
        _model(f"{name}-{command[0]}", command, SAFE_MODE.format(reason), config=edit)
        for name, (edit, reason) in HOSTILE_CONFIGS.items()
        for command in ((PREDICT, EVALUATE) if name == "os-system-class" else (PREDICT,))
    ] + [
        _model("zoo-json-not-json", PREDICT, r"zoo\.json is damaged \(JSONDecodeError", zoo_json=b"{not json"),
        _model("zoo-json-a-list", PREDICT, r"zoo\.json is damaged \(TypeError", zoo_json=b"[1]"),
        _model("backtracking-block-pattern", PREDICT, BACKTRACKS, zoo_json=backtracking),
    ]
    backends = [("nonsense", "is not a Keras backend")]
    if importlib.util.find_spec("torch") is None:
        backends.append(("torch", "needs torch, which is not installed"))
    refused = {name: Expect(2, error=f"KERAS_BACKEND={name} {why}") for name, why in backends}
    options = [
        Case(f"plugins-keras-backend-{name}", "option", _image, PREDICT, expect, "finished", (("KERAS_BACKEND", name),))
        for name, expect in refused.items()
    ]
    on_jax = Expect(2, error="zoo export needs the TensorFlow backend, not jax: run it with KERAS_BACKEND=tensorflow")
    options.append(
        Case(
            "plugins-keras-backend-jax-export",
            "option",
            _image,
            ("export", "{run}"),
            on_jax,
            "finished",
            (("KERAS_BACKEND", "jax"),),
        )
    )  # fmt: skip  (said before Keras starts)
    not_a_number = Expect(2, error="ZOO_PLUGIN_TIMEOUT must be a positive number of seconds, got 'soon'")
    options.append(Case("plugins-timeout-not-a-number", "option", _image, ("list",), not_a_number,
                        env=(("ZOO_PLUGIN_TIMEOUT", "soon"),)))  # fmt: skip
    return models + options
