"""Issue 12, item 6: ``zoo.extract`` checks its input as ``load_dataset`` does, and reads a list of image
paths as images, not as texts."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.data import decode_image
from zoo.testing import TINY_IMAGE

RNG = np.random.default_rng(0)


@pytest.fixture
def model():
    return zoo.backbone(TINY_IMAGE, weights=None)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.full((2, 32, 32, 3), np.nan, "float32"), r"pixel values must be in \[0, 255\], got nan"),
        (np.full((2, 32, 32, 3), 300.0), r"pixel values must be in \[0, 255\], got 300.0\.\.300.0"),
        (np.full((2, 32, 32, 3), -1), r"pixel values must be in \[0, 255\], got -1\.\.-1"),
        (np.zeros((2, 32, 32, 5), "uint8"), r"images must have shape \(N, H, W\) or \(N, H, W, 1\|3\|4\)"),
    ],
    ids=["nan", "above-255", "negative", "five-channels"],
)
def test_bad_pixel_arrays_are_a_one_line_data_error(model, pixels, message):
    with pytest.raises(zoo.DataError, match=message) as caught:
        zoo.extract(model, pixels, verbose=0)
    assert "\n" not in str(caught.value)


def test_pixels_scaled_to_unit_range_warn_as_load_dataset_does(model):
    with pytest.warns(zoo.DataWarning, match="multiply the images by 255"):
        zoo.extract(model, RNG.uniform(0, 1, (2, 32, 32, 3)), verbose=0)


def test_grey_and_float_pixels_give_the_features_of_their_rgb_uint8_form(model):
    grey = RNG.integers(0, 256, (3, 32, 32), dtype=np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    expected = zoo.extract(model, rgb, verbose=0)
    np.testing.assert_allclose(zoo.extract(model, grey, verbose=0), expected, atol=1e-5)
    np.testing.assert_allclose(zoo.extract(model, rgb.astype("float64"), verbose=0), expected, atol=1e-5)


def _write_images(folder, count=3, size=40):
    paths = []
    for i in range(count):
        path = folder / f"image_{i}.png"
        Image.fromarray(RNG.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_a_list_of_image_paths_is_read_as_images(model, tmp_path, monkeypatch):
    paths = _write_images(tmp_path)
    pixels = np.stack([decode_image(Path(p).read_bytes()) for p in paths])
    expected = zoo.extract(model, pixels, verbose=0)
    np.testing.assert_allclose(zoo.extract(model, paths, verbose=0), expected, atol=1e-4)
    monkeypatch.chdir(tmp_path)  # relative paths, and an extension in capitals
    (tmp_path / "image_2.PNG").write_bytes((tmp_path / "image_2.png").read_bytes())
    relative = ["image_0.png", "image_1.png", "image_2.PNG"]
    np.testing.assert_allclose(zoo.extract(model, relative, verbose=0), expected, atol=1e-4)


def test_image_paths_that_cannot_be_read_are_a_data_error_naming_them(model, tmp_path):
    paths = _write_images(tmp_path)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(zoo.DataError, match=r"2 of 5 image files cannot be read: .*broken\.jpg.*missing\.png"):
        zoo.extract(model, [*paths, str(tmp_path / "broken.jpg"), str(tmp_path / "missing.png")], verbose=0)


def test_image_paths_mixed_with_texts_are_refused_not_guessed(model, tmp_path):
    paths = _write_images(tmp_path, count=1)
    with pytest.raises(zoo.DataError, match="mixes image files and 1 strings.*pass only image paths, or only texts"):
        zoo.extract(model, [*paths, "a sunny day"], verbose=0)


def test_texts_stay_texts_even_when_one_ends_like_a_file_name():
    from zoo.features import _as_inputs

    texts = ["see the chart in fig.png", "a sunny day"]
    assert _as_inputs(texts).texts == tuple(texts)


def test_anything_else_is_a_data_error_that_says_what_to_pass(model):
    with pytest.raises(zoo.DataError, match="zoo.extract cannot read dict: pass pixels"):
        zoo.extract(model, {"x": 1}, verbose=0)
