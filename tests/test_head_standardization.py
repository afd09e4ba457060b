"""The head standardises its input features: features of any scale train, and the trainer agrees with the
linear probe of ``zoo rank`` on the same features. The statistics are fitted whenever the head is unfitted (a
model from ``zoo.build`` included), by ``zoo.fit_standardization`` for plain Keras, and kept once fitted; a head
built with ``standardize=False`` has none. A run that learns nothing says so."""

import dataclasses
import warnings

import keras
import numpy as np
import pytest

import zoo
from zoo.data import Dataset
from zoo.testing import build_tiny_image, register_plugin, tiny_specs

FAINT = "tiny_faint"


def _faint(spec, *, weights, input_shape):
    """The tiny network with features 1e-10 of its own: the scale random MobileNet weights give."""
    network = build_tiny_image(spec, weights=weights, input_shape=input_shape)
    return keras.Model(network.input, keras.layers.Rescaling(1e-10)(network.output), name=spec.name)


class _FaintPlugin:
    @zoo.hookimpl
    def register_backbones(self):
        return [dataclasses.replace(tiny_specs()[0], name=FAINT, factory=_faint)]


@pytest.fixture(autouse=True)
def faint():
    register_plugin(_FaintPlugin(), name="faint")


def _images(per_class=16, classes=3, distinct=True, seed=0):
    """Images whose brightness tells the class, or (``distinct=False``) one image under every label."""
    rng = np.random.default_rng(seed)
    x = np.stack([
        np.clip(rng.normal(40 + 80 * (i % classes), 25, (32, 32, 3)), 0, 255) if distinct else np.full((32, 32, 3), 128)
        for i in range(per_class * classes)
    ]).astype("uint8")  # fmt: skip
    y = np.array([f"c{i % classes}" for i in range(per_class * classes)])
    return x, y


@pytest.mark.slow
def test_features_a_billion_times_too_small_still_train_and_agree_with_the_probe(tmp_path):
    x, y = _images()
    with warnings.catch_warnings():
        warnings.simplefilter("error", zoo.TrainingWarning)
        run = zoo.train(FAINT, (x, y), weights=None, epochs=15, learning_rate=0.1, out=tmp_path / "run", verbose=0)
    assert run.metrics["accuracy"] >= 0.9  # at chance (0.33) without the standardisation
    probe = zoo.rank((x, y), [FAINT], weights=None, cache_dir=tmp_path / "cache", verbose=0)[0]
    assert probe.error is None and abs(probe.probe - run.metrics["accuracy"]) <= 0.1, (probe, run.metrics)
    head = run.model.get_layer(run.model.zoo_config.parts.head)
    standardize = head.get_layer(run.model.zoo_config.parts.standardize)
    assert float(np.mean(standardize.get_weights()[1])) < 1e-15  # fit to the features' variance
    reloaded = keras.saving.load_model(run.path / "model.keras")  # the standardisation travels with the model
    np.testing.assert_allclose(reloaded.predict(x[:4], verbose=0), run.model.predict(x[:4], verbose=0), rtol=1e-5)


@pytest.mark.parametrize("pretrained", [False, True])
def test_a_run_that_stays_at_chance_says_so(tmp_path, pretrained):
    """Pretrained weights are suggested only where the weights were random."""
    x, y = _images(distinct=False)  # nothing tells the classes apart
    # load_dataset and split refuse one image under several labels; a Dataset given as data is taken as it is
    labels, names = np.arange(len(y)) % 3, ("c0", "c1", "c2")
    train = Dataset("classification", labels, names, ("one image",) * len(y), images=x)
    val = Dataset("classification", labels, names, ("another",) * len(y), images=x - 1)  # not the training image
    weights = None
    if pretrained:
        weights = tmp_path / "tiny.weights.h5"
        build_tiny_image(tiny_specs()[0], weights=None, input_shape=(32, 32, 3)).save_weights(weights)
    with pytest.warns(zoo.TrainingWarning, match=r"never went clearly below chance level, ln\(3\) = 1.099") as said:
        zoo.train(FAINT, train, val, weights=weights, epochs=3, out=tmp_path / "run", verbose=0)
    (message,) = [str(w.message) for w in said if w.category is zoo.TrainingWarning]
    assert message.endswith("the model learned nothing; check the labels or try another learning rate"
                            + ("" if pretrained else ", or use pretrained weights (these were random: weights=None, "
                                                     "--weights none)"))  # fmt: skip


def test_a_run_whose_validation_loss_stays_above_chance_says_so(tmp_path):
    """Worse than chance is no better: the validation labels are not the ones the training images taught."""
    x, y = _images()
    labels, names = np.arange(len(y)) % 3, ("c0", "c1", "c2")
    digests = tuple(f"train {i}" for i in range(len(y)))
    train = Dataset("classification", labels, names, digests, images=x)
    val = Dataset("classification", (labels + 1) % 3, names, tuple(f"val {i}" for i in range(len(y))), images=x + 1)
    said = r"never went clearly below chance level, ln\(3\) = 1.099 \(best [0-9.]+, not below "
    with pytest.warns(zoo.TrainingWarning, match=said):
        run = zoo.train(FAINT, train, val, weights=None, epochs=3, learning_rate=0.1, out=tmp_path / "run", verbose=0)
    assert min(row["val_loss"] for row in run.history) > np.log(3) and run.metrics["accuracy"] < 1 / 3


def test_a_run_right_on_most_but_confidently_wrong_on_the_rest_is_not_said_to_have_learned_nothing(tmp_path):
    x, y = _images()
    labels, names = np.arange(len(y)) % 3, ("c0", "c1", "c2")
    mislabelled = np.where(np.arange(len(y)) % 4 == 0, (labels + 1) % 3, labels)  # a quarter of the validation set
    train = Dataset("classification", labels, names, tuple(f"train {i}" for i in range(len(y))), images=x)
    val = Dataset("classification", mislabelled, names, tuple(f"val {i}" for i in range(len(y))), images=x + 1)
    overconfident = r"ln\(3\) = 1.099 \(best .*\) although the validation accuracy reached"
    with pytest.warns(zoo.TrainingWarning, match=overconfident) as said:
        run = zoo.train(FAINT, train, val, weights=None, epochs=20, learning_rate=0.3, out=tmp_path / "run", verbose=0)
    assert "learned nothing" not in str(said[0].message) and run.metrics["accuracy"] >= 2 / 3


@pytest.mark.slow
def test_a_model_that_arrives_trained_keeps_its_standardisation(tmp_path):
    x, y = _images()
    first = zoo.train(FAINT, (x, y), weights=None, epochs=2, learning_rate=0.1, out=tmp_path / "a", verbose=0)
    model = zoo.load_model(first.path)
    parts = model.zoo_config.parts
    before = [w.copy() for w in model.get_layer(parts.head).get_layer(parts.standardize).get_weights()]
    again = zoo.train(model, (x[::-1] * 0.5, y[::-1]), epochs=1, out=tmp_path / "b", verbose=0)
    after = again.model.get_layer(parts.head).get_layer(parts.standardize).get_weights()
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def _standardize(model):
    parts = model.zoo_config.parts
    return model.get_layer(parts.head).get_layer(parts.standardize)


def _features(model, x):
    """The features the head reads, by a model of the network's own layers: what the statistics should describe."""
    extractor = keras.Model(model.inputs, model.get_layer(model.zoo_config.parts.features).output)
    return np.asarray(extractor.predict(x, verbose=0), np.float64)


@pytest.mark.slow
def test_a_model_from_zoo_build_gets_its_standardisation_fitted_by_train(tmp_path):
    x, y = _images()
    val = _images(per_class=6, seed=1)
    model = zoo.build(FAINT, num_classes=3, weights=None, input_shape=32)
    features = _features(model, x)
    run = zoo.train(model, (x, y), val, epochs=15, learning_rate=0.1, out=tmp_path / "run",
                    cache_dir=tmp_path / "cache", verbose=0)  # fmt: skip
    mean, variance = _standardize(run.model).get_weights()
    expected = features.var(axis=0)
    np.testing.assert_allclose(mean, features.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(variance, np.maximum(expected, 0.01 * expected.mean()), rtol=1e-3)
    assert run.metrics["accuracy"] >= 0.9  # at chance (0.33) while the standardisation stayed unfitted


@pytest.mark.slow
def test_fit_standardization_lets_plain_keras_fit_learn():
    x, y = _images()
    labels = np.array([int(label[1:]) for label in y])
    accuracy = {}
    for fitted in (False, True):
        keras.utils.set_random_seed(0)
        model = zoo.build(FAINT, num_classes=3, weights=None, input_shape=32)
        if fitted:
            zoo.fit_standardization(model, x, verbose=0)
        model.compile(keras.optimizers.Adam(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, labels, epochs=15, batch_size=16, verbose=0)
        accuracy[fitted] = model.evaluate(x, labels, verbose=0, return_dict=True)["accuracy"]
    assert accuracy[True] >= 0.9 and accuracy[False] <= 0.5, accuracy  # features 1e-10 in size: unfitted, at chance
    mean = _standardize(model).get_weights()[0]
    np.testing.assert_allclose(mean, _features(model, x).mean(axis=0), rtol=1e-4)


def test_fit_standardization_refuses_a_head_without_one():
    model = zoo.build(FAINT, num_classes=3, weights=None, input_shape=32, standardize=False)
    with pytest.raises(zoo.ConfigError, match="standardize=False"):
        zoo.fit_standardization(model, _images()[0], verbose=0)


@pytest.mark.slow
def test_standardize_false_is_the_classic_model_exactly():
    zoo.plugins.reset()  # the installed backbones, not this file's faint one alone
    options = {"num_classes": 100, "head": "flatten", "dropout": 0.5, "weights": None}
    classic = zoo.build("resnet50", standardize=False, **options)
    trainable = sum(int(np.prod(w.shape)) for w in classic.trainable_weights)
    assert (classic.count_params(), trainable) == (33_623_012, 10_035_300)
    assert classic.zoo_config.parts.standardize is None and not classic.zoo_config.standardize
    assert [type(layer).__name__ for layer in classic.get_layer("head").layers[1:]] == ["Dropout", "Dense"]
    keras.backend.clear_session()
    standardized = zoo.build("resnet50", **options)
    assert standardized.count_params() == 33_623_012 + 2 * 7 * 7 * 2048  # a mean and a variance per feature


@pytest.mark.slow
def test_a_head_without_standardisation_trains_saves_and_reloads(tmp_path):
    x, y = _images()
    with pytest.warns(zoo.TrainingWarning, match="chance level"):  # features 1e-10 in size, as they come
        run = zoo.train(FAINT, (x, y), weights=None, input_shape=32, epochs=2, standardize=False,
                        out=tmp_path / "run", cache_dir=tmp_path / "cache", verbose=0)  # fmt: skip
    assert run.train_config.standardize is False
    card = (run.path / "README.md").read_text()
    assert "- head: " in card and "standardised" not in card  # the card says the head it has
    model = zoo.load_model(run.path)
    assert model.zoo_config.parts.standardize is None and not model.zoo_config.standardize
    assert "BatchNormalization" not in [type(layer).__name__ for layer in model.get_layer("head").layers]
    with pytest.warns(zoo.TrainingWarning, match="chance level"):
        again = zoo.train(model, (x, y), epochs=1, out=tmp_path / "again", cache_dir=tmp_path / "cache", verbose=0)
    assert again.model.zoo_config.parts.standardize is None


def test_no_standardize_flag_reaches_the_config():
    from zoo.cli import checks, parser

    args = parser.build_parser().parse_args(["train", "--backbone", FAINT, "--data", "d", "--no-standardize"])
    assert checks.train_config(args).standardize is False
