"""Saving and loading a model file the zoo wrote (``.keras``, a run's ``model.keras``): its ModelConfig inside,
no training state, the trust record of the external files it reads, and the distributions loading it needs."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import card, files
from zoo.config import ModelConfig
from zoo.console import load_framework
from zoo.errors import RunError, ZooError, first_line
from zoo.run.layout import CONFIG_MEMBER, MODEL, TRUST_MEMBER

if TYPE_CHECKING:
    import keras

KERAS_IMPORTS = ("keras", "keras_hub", "keras_cv", "keras_nlp")  # packages whose classes Keras imports by itself


def save_model(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Save ``model`` as a ``.keras`` file, with its :class:`ModelConfig` inside when it has one.

    Keras loads the file by itself (it ignores the extra members); :func:`load_model` also restores
    ``model.zoo_config``, so the model can be trained again (``zoo.train`` compiles it afresh). The file is
    what gets deployed: it holds no optimizer state (Adam's doubles a fine-tuned model's trainable weights)
    and no compile settings; the run's checkpoints keep the optimizer for a resume. The files outside the
    archive that the model reads when loaded (a SavedModel, as its plugin's ``external_files`` hook names
    them) are recorded by SHA-256: the trust record, which lets :func:`load_model` load them in another process.

    >>> import zoo
    >>> save_model(zoo.build("tiny_image", num_classes=2, weights=None), "m.keras")
    PosixPath('m.keras')
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise RunError(f"a zoo model is saved as a .keras file, got {path}")
    files.ensure_space(path, nbytes(model.weights))
    with files.atomic_path(path) as tmp:
        with _without_training_state(model):
            model.save(tmp)
        config = getattr(model, "zoo_config", None)
        trusted = {name: _sha256_tree(name) for name in _external_files(model)}
        with zipfile.ZipFile(tmp, "a") as archive:
            if config is not None:
                archive.writestr(CONFIG_MEMBER, json.dumps(config.to_dict()))
            if trusted:
                archive.writestr(TRUST_MEMBER, json.dumps(trusted))
    return path


@contextlib.contextmanager
def _without_training_state(model: keras.Model) -> Any:
    """``model`` as if never compiled while it is saved: Keras then writes neither optimizer nor compile config.

    Keras 3 has no ``include_optimizer`` for ``.keras`` files: it saves the ``optimizer`` attribute's variables
    and, while ``compiled``, the compile config, of the model and of every model nested in it (the trainer
    compiles the head alone for phase 1). They are set aside in the instances' own attributes (no tracking
    touched) and put back, so a model still being trained goes on with its optimizer.
    """
    kept: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for part in _parts(model):
        state = vars(part)
        if state.get("optimizer") is not None or state.get("compiled"):
            kept.append((state, {name: state[name] for name in ("optimizer", "compiled") if name in state}))
            state.update(optimizer=None, compiled=False)
    try:
        yield model
    finally:
        for state, values in kept:
            state.pop("optimizer", None)
            state.pop("compiled", None)
            state.update(values)


def _parts(model: keras.Model) -> list[Any]:
    """``model`` and every layer inside it, nested models' layers included, each once."""
    found: dict[int, Any] = {}
    layers = [model]
    while layers:
        layer = layers.pop(0)
        if id(layer) not in found:
            found[id(layer)] = layer
            layers.extend(getattr(layer, "layers", ()))
    return list(found.values())


def load_requirements(model: keras.Model | str | os.PathLike[str]) -> list[str]:
    """The distributions that must be installed to load ``model`` (a model, a ``.keras`` file or a run), sorted.

    Always ``keras``. Then the classes in the model's Keras config: those of keras-hub, keras-cv or
    keras-nlp name their distribution (Keras imports their modules by itself, once installed); a class of
    any other package names the installed distribution that provides it (``packages_distributions``) and
    ``backbone-zoo``, whose ``zoo.load_model`` registers such classes (the zoo's text layers, a plugin's
    layer through ``register_keras_objects``). Without ``backbone-zoo`` in the list, plain
    ``keras.saving.load_model`` loads the model. A file or run is read without importing Keras.

    >>> load_requirements("runs/demo/run")
    ['keras']
    >>> import zoo
    >>> load_requirements(zoo.backbone("mobilenet_v3_small_kerascv", weights=None, input_shape=32))
    ['keras', 'keras-cv']
    """
    if isinstance(model, (str, os.PathLike)):
        path = Path(model) / MODEL if Path(model).is_dir() else Path(model)
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise damaged(path, err) from None
    else:
        import keras

        config = keras.saving.serialize_keras_object(model)
    distributions = _packages_distributions(tuple((entry, _modified(entry)) for entry in sys.path))
    needed = {"keras"}
    for package in _packages(config, distributions):
        needed.update(distributions.get(package) or [package])  # not installed from a distribution: its name
        if package not in KERAS_IMPORTS:
            needed.add(card.ZOO_DISTRIBUTION)
    return sorted(needed)


@functools.lru_cache(maxsize=1)
def _packages_distributions(search_path: tuple[tuple[str, int | None], ...]) -> Mapping[str, list[str]]:
    """``importlib.metadata.packages_distributions()``, read again only when ``search_path`` (each entry of
    ``sys.path`` and its modification time) changed: an install or uninstall adds or removes an entry of a
    folder there. The scan of every installed distribution takes 0.35 s, asked once a run and an export.
    """
    return importlib.metadata.packages_distributions()


def _modified(path: str) -> int | None:
    with contextlib.suppress(OSError):
        return os.stat(path or ".").st_mtime_ns
    return None


def _packages(config: Any, installed: Mapping[str, Any]) -> set[str]:
    """The top-level packages of the modules named in a Keras config (``{"module", "class_name", ...}``).

    A registered function is saved under the module ``builtins`` with its registered name as config
    (``"keras_hub>gelu_approximate"``): its package is that name's prefix, when a package has that name.

    >>> sorted(_packages({"module": "keras.layers", "class_name": "Dense", "config": {"activation": {
    ...     "module": "builtins", "class_name": "function", "config": "keras_hub>gelu_approximate"}}}, {}))
    ['keras', 'keras_hub']
    """
    found: set[str] = set()
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module, inner = item.get("module"), item.get("config")
            if module == "builtins" and isinstance(inner, str) and ">" in inner:
                prefix = inner.split(">")[0]
                found.update([prefix] if prefix in KERAS_IMPORTS or prefix in installed else [])
            elif isinstance(module, str) and module != "builtins" and "class_name" in item:
                found.add(module.split(".")[0])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _external_files(model: keras.Model) -> list[str]:
    """The files outside the archive that ``model``'s layers read when loaded, absolute, each once."""
    from zoo.plugins import registry

    found: dict[str, None] = {}
    for layer in _parts(model)[1:]:
        found.update((str(Path(name).expanduser().resolve()), None) for name in registry().external_files(layer))
    return list(found)


def _trusted(path: Path, archive: zipfile.ZipFile) -> list[str]:
    """The external files ``path`` recorded, each checked against its SHA-256; :class:`RunError` if one changed."""
    if TRUST_MEMBER not in archive.namelist():
        return []
    try:
        recorded: dict[str, str] = dict(json.loads(archive.read(TRUST_MEMBER)))
    except (OSError, ValueError, TypeError, zipfile.BadZipFile) as err:
        raise damaged(path, err) from None
    for name, digest in recorded.items():
        if not Path(name).exists():
            raise RunError(
                f"{path} reads {name}, which is missing: put back the files it was trained with "
                "(it loads only while their SHA-256 matches), or train again"
            )
        if _sha256_tree(name) != digest:
            raise RunError(
                f"{path} reads {name}, which changed since the model was saved (SHA-256 {digest[:12]}... recorded): "
                "restore the files it was trained with, or train again on the new ones"
            )
    return list(recorded)


_OTHER_FORMATS = {  # what zoo.load_model is given instead of a .keras model, and what loads it
    "savedmodel": ("a SavedModel", "tf.saved_model.load (or serve it: zoo serve)"),
    ".onnx": ("an ONNX file", "onnxruntime"),
    ".tflite": ("a TFLite file", "LiteRT's Interpreter (ai_edge_litert)"),
}


def check_archive(path: str | os.PathLike[str]) -> Path:
    """The ``.keras`` file at ``path`` (or in the run directory ``path``), if it is there and a whole archive (its
    end read, not its weights); :class:`RunError` saying what to do otherwise.

    >>> check_archive("runs/demo/run").name
    'model.keras'
    """
    path = files.as_path(path, "the model")
    other = _OTHER_FORMATS.get("savedmodel" if (path / "saved_model.pb").is_file() else path.suffix.lower())
    if other is not None:  # an export: no .keras archive to load, and nothing damaged
        raise RunError(f"{path} is {other[0]}, not a Keras model (model.keras): load it with {other[1]}, or load the "
                       "run it was exported from")  # fmt: skip
    if path.is_dir():
        path = path / MODEL
    if not path.is_file():
        raise RunError(f"No saved model at {path}: is this a finished run directory?")
    if not zipfile.is_zipfile(path):  # Keras calls a damaged archive "File not found"
        raise RunError(
            f"{path} is damaged (not a complete .keras archive: truncated or overwritten); restore it from a copy, "
            "or train again (an unfinished run writes it again with `zoo train --resume RUN`)"
        )
    return path


def load_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load a model the zoo saved (a ``.keras`` file or a run directory), with Keras' safe mode on.

    Image models load with ``keras.saving.load_model`` alone, even where the zoo is not installed;
    text models need the zoo's layers, which this registers, and the plugins' own classes come from
    their ``register_keras_objects`` hook. External files the model reads (a SavedModel) load only
    while their SHA-256 matches the trust record :func:`save_model` wrote (:class:`RunError` when not);
    safe mode stays on for everything else. ``model.zoo_config`` is restored, so
    ``zoo.train(load_model(run), data)`` continues training it. A config that safe mode refuses (a class or
    function outside Keras and the plugins, a lambda), a damaged ``zoo.json``, or a block pattern outside the
    bounded language of ``zoo.plugins.block_pattern_refusal`` (unless it is the pattern its installed
    backbone declares) is a one-line :class:`RunError`, before anything runs.

    >>> model = load_model("runs/demo/run")
    >>> model.zoo_config.backbone, model.output_shape
    ('tiny_image', (None, 4))
    """
    load_framework()  # a fresh process: TensorFlow starts without its start-up lines
    import keras

    import zoo.layers  # noqa: F401  (text models use the zoo's layers)

    path = check_archive(path)
    from zoo.plugins import registry

    with zipfile.ZipFile(path) as archive:
        trusted = _trusted(path, archive)
        zoo_config = _zoo_config(path, archive)
    classes = registry().keras_objects(trusted)
    try:
        # compile=False: the zoo never uses a loaded model's training state (train() compiles afresh). Compiling
        # would rebuild the saved optimizer for every variable trainable on load, which after fine-tuning a
        # keras-hub network (whose sublayers come back all trainable) is more than were saved, and Keras
        # warns "Skipping variable loading for optimizer ...".
        custom_objects = {keras.saving.get_registered_name(c): c for c in classes}
        with dtype_policy(zoo_config.dtype_policy if zoo_config is not None else None):
            model = keras.saving.load_model(path, custom_objects=custom_objects, safe_mode=True, compile=False)
    except Exception as err:  # Keras reports a damaged file, or what its safe mode refuses, as many types
        raise _load_error(path, err) from err
    if zoo_config is not None:
        model.zoo_config = zoo_config
    return model


@contextlib.contextmanager
def dtype_policy(name: str | None) -> Iterator[None]:
    """Keras' global dtype policy set to ``name`` meanwhile (``None``: left as it is), then put back.

    >>> with dtype_policy("mixed_bfloat16"):
    ...     import keras; keras.layers.Dense(2).compute_dtype
    'bfloat16'
    """
    import keras

    previous = keras.config.dtype_policy()
    if name is not None:
        keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _zoo_config(path: Path, archive: zipfile.ZipFile) -> ModelConfig | None:
    """The :class:`ModelConfig` inside ``path`` (``None`` without one), checked before Keras reads anything.

    A damaged ``zoo.json`` is a :class:`RunError`, and so is a block pattern that matching could spend hours
    on: one outside ``zoo.plugins.block_pattern_refusal``'s language, unless its backbone, installed,
    declares it (a plugin's own pattern is code the user installed).
    """
    from zoo.plugins import block_pattern_refusal, registry

    if CONFIG_MEMBER not in archive.namelist():
        return None
    try:
        config = ModelConfig.from_dict(json.loads(archive.read(CONFIG_MEMBER)))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as err:
        raise RunError(
            f"{path}: its {CONFIG_MEMBER} is damaged ({type(err).__name__}: {first_line(err)}); restore the file from "
            "a copy, or train again"
        ) from None
    pattern, declared = config.block_pattern, None
    if pattern is not None and isinstance(config.backbone, str):
        with contextlib.suppress(ZooError):  # not installed (or declared twice): its pattern must prove itself
            declared = registry().get(config.backbone).block_pattern
    reason = block_pattern_refusal(pattern) if pattern is not None and pattern != declared else None
    if reason:
        raise RunError(
            f"{path}: the zoo refuses its block_pattern {pattern!r}: it {reason}, so matching it against layer "
            f"names could run for hours (it is not the pattern of an installed {config.backbone!r}: the file was "
            "edited or made elsewhere)"
        )
    return config


def _load_error(path: Path, err: Exception) -> RunError:
    """One line for a model Keras did not load: what its safe mode refused (a class or function outside Keras
    and the installed plugins, a lambda; Keras wraps the reason in a ``TypeError``), else the error itself."""
    chain = [err]
    while (cause := chain[-1].__cause__ or chain[-1].__context__) is not None and cause not in chain:
        chain.append(cause)  # type: ignore[arg-type]
    if not isinstance(err, (TypeError, RecursionError)) and not any(re.search("safe[ _]mode", str(e)) for e in chain):
        return RunError(f"Cannot load {path}: {type(err).__name__}: {first_line(err)}")
    reason = first_line(chain[-1]).split(". ")[0].rstrip(",.")
    return RunError(
        f"{path}: refused by Keras' safe mode ({reason}); a zoo model names only Keras' classes and those of "
        "installed plugins, so this file was edited, made elsewhere, or needs a plugin that is not installed"
    )


def _sha256_tree(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, or of a directory's regular files (their relative paths and contents, in order).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()); _ = (folder / "a").write_text("x"); before = _sha256_tree(folder)
    >>> _ = (folder / "a").write_text("y"); _sha256_tree(folder) == before
    False
    """
    root = Path(path)
    members = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    digest = hashlib.sha256()
    for member in members:
        content = hashlib.sha256()
        with open(member, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                content.update(block)
        digest.update(member.relative_to(root).as_posix().encode() + b"\0" + content.digest())
    return digest.hexdigest()


def damaged(path: Path, err: BaseException) -> RunError:
    """The one error for a checkpoint (or a model file) that cannot be read back."""
    return RunError(f"{path} is damaged ({type(err).__name__}): this run cannot resume from it; start it again")


def nbytes(arrays: Sequence[Any]) -> int:
    """The bytes of arrays or Keras variables (what writing them takes, before the file format's own)."""
    return sum(int(np.prod(a.shape)) * np.dtype(str(a.dtype)).itemsize for a in arrays)
