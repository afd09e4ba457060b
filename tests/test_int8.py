"""`zoo export --quantize int8` on a network trained for real: a small caffe-preprocessed CNN (RGB->BGR and the
ImageNet mean, as ResNet50's) trained from scratch in plain Keras, BatchNormalization statistics included, then
used frozen under a zoo head. Random or barely trained weights quantise unlike trained ones, so the promise is
checked here: the int8 file, run in a fresh process, gives Keras's top-1 class and Keras's accuracy."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import zoo

# Written here rather than read from zoo/exports/parity.py: same top-1 as Keras on 98% of held-out images, and an
# accuracy within one point of Keras's.
AGREEMENT, ACCURACY = 0.98, 0.01
# Coloured shapes: each class one shape in one colour, each shape in two colours (a near hue, or a lighter or
# darker shade), so a model needs the colours as well as the shapes.
CLASSES = {"red_rows": ("rows", (200, 30, 30)), "orange_rows": ("rows", (230, 140, 20)),
           "navy_columns": ("columns", (20, 20, 110)), "sky_columns": ("columns", (120, 170, 240)),
           "green_disc": ("disc", (20, 100, 20)), "lime_disc": ("disc", (150, 230, 60))}  # fmt: skip

# Runs the int8 file in a fresh interpreter with LiteRT alone: argv[1] the .tflite, argv[2] the images (.npy),
# argv[3] where its probabilities go (.npy).
RUN_TFLITE = textwrap.dedent(
    """
    import sys
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=sys.argv[1]).get_signature_runner("serving_default")
    np.save(sys.argv[3], runner(images=np.load(sys.argv[2]))["probabilities"])
    """
)


def _shapes(per_class, seed):
    """``per_class`` 32x32 uint8 images of each class on a grey background, with noise: (images, labels)."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[:32, :32]
    images, labels = [], []
    for _ in range(per_class):
        for label, (shape, colour) in CLASSES.items():
            period, phase = rng.integers(4, 11), rng.integers(0, 10)
            if shape == "disc":
                (y, x), r = rng.integers(10, 22, 2), rng.integers(5, 10)
                mask = (rows - y) ** 2 + (columns - x) ** 2 < r * r
            else:
                mask = ((rows if shape == "rows" else columns) + phase) % period < period / 2
            foreground = np.array(colour) + rng.normal(0, 15, 3)
            pixels = np.where(mask[..., None], foreground, rng.uniform(0, 255)) + rng.normal(0, 20, (32, 32, 3))
            images.append(np.clip(pixels, 0, 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels)


def _train_backbone(images, labels, path):
    """Train tiny_image_caffe's network from scratch in plain Keras (BatchNormalization in training mode, so
    its moving statistics are the data's), with a classifier of its own; save the network's weights."""
    import keras

    from zoo.testing import build_tiny_image

    keras.utils.set_random_seed(0)
    network = build_tiny_image(zoo.get_spec("tiny_image_caffe"), weights=None, input_shape=(32, 32, 3))
    pixels = keras.Input((32, 32, 3))
    x = network(keras.layers.Lambda(keras.applications.resnet50.preprocess_input)(pixels))  # caffe, as ResNet50
    x = keras.layers.Dense(len(CLASSES), activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    classifier = keras.Model(pixels, x)
    classifier.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    classifier.fit(images, np.searchsorted(sorted(CLASSES), labels), epochs=8, batch_size=32, verbose=0)
    network.save_weights(path)
    return network


@pytest.fixture(scope="module")
def int8(tmp_path_factory):
    """The int8 export of a run whose frozen backbone was trained from scratch, and what Keras and the
    file say on held-out images (the file run in a fresh process)."""
    root = tmp_path_factory.mktemp("int8")
    images, labels = _shapes(200, seed=0)
    network = _train_backbone(images, labels, root / "backbone.weights.h5")
    for i, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        (root / "data" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / "data" / label / f"{i}.png")
    run = zoo.train("tiny_image_caffe", root / "data", weights=root / "backbone.weights.h5", epochs=8,
                    learning_rate=0.03, out=root / "run", cache=False, verbose=0)  # fmt: skip
    held_out, truth = _shapes(50, seed=1)
    keras_probabilities = run.model.predict(held_out, verbose=0)
    exported = zoo.export(run, "tflite", quantize="int8")
    np.save(root / "held_out.npy", held_out)
    command = [sys.executable, "-c", RUN_TFLITE, exported.artefact, root / "held_out.npy", root / "out.npy"]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    names = np.array(run.class_names)
    keras_top1, int8_top1 = names[keras_probabilities.argmax(-1)], names[np.load(root / "out.npy").argmax(-1)]
    return {"network": network, "exported": exported, "truth": truth, "keras": keras_top1, "int8": int8_top1}


@pytest.mark.slow
def test_int8_of_a_trained_network_gives_the_keras_top1_and_accuracy(int8):
    """One test, so one worker trains and exports once."""
    variances = [layer.moving_variance.numpy() for layer in int8["network"].layers if "bn" in layer.name]
    assert len(variances) == 4 and not any(np.allclose(v, 1.0) for v in variances)  # not the initial statistics
    assert np.mean(int8["keras"] == int8["truth"]) >= 0.9  # a network that learnt the task, as a deployed one has

    agreement = float(np.mean(int8["int8"] == int8["keras"]))
    print(f"int8: top-1 agreement with Keras {agreement:.1%} on {len(int8['truth'])} held-out images")
    assert agreement >= AGREEMENT, agreement
    assert int8["exported"].metadata["parity"]["ok"], int8["exported"].metadata["parity"]["verdict"]

    keras_accuracy = float(np.mean(int8["keras"] == int8["truth"]))
    int8_accuracy = float(np.mean(int8["int8"] == int8["truth"]))
    print(f"accuracy: int8 {int8_accuracy:.1%}, Keras {keras_accuracy:.1%}")
    assert abs(int8_accuracy - keras_accuracy) <= ACCURACY, (int8_accuracy, keras_accuracy)
