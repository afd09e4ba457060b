"""zoo.data: folders, manifests and arrays into checked datasets; decoding; splits; the tf.data pipeline."""

import io
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from zoo.data import AUGMENTATIONS, Dataset, augmentation_layers, decode_image, image_pipeline, load_dataset, split
from zoo.errors import DataError, DataWarning

COLOURS = {"cat": (255, 0, 0), "dog": (0, 255, 0), "fox": (0, 0, 255)}


def encode(img, fmt="PNG", **kw):
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kw)
    return buffer.getvalue()


def solid(path, colour, size=(12, 10)):
    """A one-colour RGB image file (size is width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def make_folder(root, per_class=3, classes=COLOURS):
    for name, colour in classes.items():
        for i in range(per_class):
            solid(root / name / f"{i}.png", colour, size=(8 + i, 10))
    return root


def truncated(path, fmt="JPEG"):
    data = encode(Image.new("RGB", (32, 32), (9, 9, 9)), fmt)
    path.write_bytes(data[: len(data) // 2])


# ---------------------------------------------------------------- folders


def test_folder_with_three_classes(tmp_path):
    root = make_folder(tmp_path / "train")
    solid(root / "cat" / "nested" / "LOUD.PNG", COLOURS["cat"])  # sub-folders and upper-case extensions count
    (root / "cat" / "notes.txt").write_text("not an image")  # ignored: not an image extension
    (root / "dog" / ".hidden.png").write_bytes(b"")  # ignored: hidden
    (root / ".cache").mkdir()  # ignored: hidden folder, not a class
    ds = load_dataset(root)
    assert ds.task == "classification"
    assert ds.class_names == ("cat", "dog", "fox")
    assert ds.targets.dtype == np.int64
    assert ds.targets.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert len(ds) == 10 and ds.num_outputs == 3
    assert ds.images is None and ds.skipped == ()
    assert all(os.path.isabs(p) for p in ds.paths)
    assert ds.paths[3].endswith(os.path.join("cat", "nested", "LOUD.PNG"))
    assert all(len(d) == 64 for d in ds.digests)
    assert "3 classes" in ds.source


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    solid(tmp_path / "flat" / "a.png", (1, 2, 3))
    with pytest.raises(DataError, match="no class sub-folders"):
        load_dataset(tmp_path / "flat")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="CSV manifest for regression"):
        load_dataset(make_folder(tmp_path / "ok"), task="regression")


def test_an_empty_class_folder_raises(tmp_path):
    root = make_folder(tmp_path / "train")
    (root / "owl").mkdir()
    with pytest.raises(DataError, match="'owl' \\(no images\\)"):
        load_dataset(root)


def test_single_class_raises(tmp_path):
    root = make_folder(tmp_path / "train", classes={"cat": COLOURS["cat"]})
    with pytest.raises(DataError, match="at least two classes"):
        load_dataset(root)


# ---------------------------------------------------------------- decoding


def palette_image(transparent):
    img = Image.new("P", (4, 4), 1)
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.putpixel((0, 0), 0)
    return encode(img, transparency=0) if transparent else encode(img)


def grey16(value, mode):
    big_endian = mode == "I;16B"
    data = np.full((4, 4), value, dtype=">u2" if big_endian else "<u2").tobytes()
    return Image.frombytes(mode, (4, 4), data)


@pytest.mark.parametrize(
    ("data", "pixel"),
    [
        (encode(Image.new("RGB", (4, 4), (1, 2, 3))), (1, 2, 3)),
        (encode(Image.new("L", (4, 4), 100)), (100, 100, 100)),
        (encode(Image.new("1", (4, 4), 1)), (255, 255, 255)),
        (encode(Image.new("RGBA", (4, 4), (255, 0, 0, 0))), (255, 255, 255)),
        (encode(Image.new("RGBA", (4, 4), (255, 0, 0, 255))), (255, 0, 0)),
        (encode(Image.new("RGBA", (4, 4), (0, 0, 0, 51))), (204, 204, 204)),
        (encode(Image.new("LA", (4, 4), (0, 0))), (255, 255, 255)),
        (encode(Image.new("L", (4, 4), 7), transparency=7), (255, 255, 255)),
        (palette_image(transparent=False), (10, 20, 30)),
        (palette_image(transparent=True), (255, 255, 255)),
        (encode(grey16(65535, "I;16")), (255, 255, 255)),
        (encode(grey16(32768, "I;16")), (128, 128, 128)),
        (encode(grey16(65535, "I;16B"), "TIFF"), (255, 255, 255)),
        (encode(Image.fromarray(np.full((4, 4), 257 * 10, np.int32)), "TIFF"), (10, 10, 10)),
        (encode(Image.fromarray(np.full((4, 4), 2**31 - 1, np.int32)), "TIFF"), (255, 255, 255)),
        (encode(Image.fromarray(np.full((4, 4), 0.5, np.float32)), "TIFF"), (128, 128, 128)),
        (encode(Image.new("RGB", (4, 4), (0, 0, 255)), "BMP"), (0, 0, 255)),
        (encode(Image.new("RGB", (4, 4), (0, 0, 255)), "WEBP", lossless=True), (0, 0, 255)),
    ],
    ids=[
        *("rgb grey 1-bit rgba-clear rgba-opaque rgba-fifth la-clear grey-trns palette palette-trns".split()),
        *("i16-max i16-half i16b-tiff i32-16bit i32-max float bmp webp".split()),
    ],
)
def test_decode_modes(data, pixel):
    decoded = decode_image(data)
    assert decoded.dtype == np.uint8 and decoded.shape == (4, 4, 3)
    assert decoded[0, 0].tolist() == list(pixel)


def test_decode_palette_keeps_opaque_colours():
    decoded = decode_image(palette_image(transparent=True))
    assert decoded[0, 0].tolist() == [255, 255, 255] and decoded[1, 1].tolist() == [200, 100, 50]


def test_decode_cmyk_jpeg():
    data = encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG")
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    np.testing.assert_allclose(decode_image(data)[4, 4], (255, 0, 0), atol=3)


def test_decode_applies_exif_orientation():
    img = Image.new("RGB", (4, 2), (0, 0, 255))
    img.putpixel((0, 0), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display turned 90 degrees clockwise
    decoded = decode_image(encode(img, exif=exif))
    assert decoded.shape == (4, 2, 3)
    assert decoded[0, 1].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"this is text, not a picture", "not an image"),
        (encode(Image.new("RGB", (32, 32)), "JPEG")[:300], "cannot decode"),
        (encode(Image.new("RGB", (32, 32)), "PNG")[:60], "cannot decode"),
    ],
    ids=["zero-bytes", "text", "truncated-jpeg", "truncated-png"],
)
def test_decode_errors(data, reason):
    with pytest.raises(DataError, match=reason):
        decode_image(data)


# ---------------------------------------------------------------- bad files


def add_bad_files(folder):
    (folder / "zero.png").write_bytes(b"")
    (folder / "text.jpg").write_text("hello, I am not a JPEG")
    truncated(folder / "cut.jpg", "JPEG")
    truncated(folder / "cut.png", "PNG")


def test_bad_files_are_skipped_with_one_warning(tmp_path):
    root = make_folder(tmp_path / "train", per_class=6)
    add_bad_files(root / "dog")
    with pytest.warns(DataWarning) as caught:
        ds = load_dataset(root)
    assert len(caught) == 1
    assert "skipped 4 of 22 images" in str(caught[0].message)
    assert len(ds) == 18 and ds.targets.tolist().count(1) == 6
    reasons = dict(ds.skipped)
    assert set(reasons) == {str(root / "dog" / n) for n in ("zero.png", "text.jpg", "cut.jpg", "cut.png")}
    assert "empty file" in reasons[str(root / "dog" / "zero.png")]
    assert "not an image" in reasons[str(root / "dog" / "text.jpg")]
    assert "truncated" in reasons[str(root / "dog" / "cut.png")]
    assert ds.subset([0]).skipped == ds.skipped


def test_too_many_bad_files_raise(tmp_path):
    root = make_folder(tmp_path / "train", per_class=2)
    add_bad_files(root / "dog")
    with pytest.raises(DataError, match="4 of 10 images .* more than max_bad_fraction=0.2"):
        load_dataset(root)
    with pytest.warns(DataWarning, match="skipped 4 of 10"):
        assert len(load_dataset(root, max_bad_fraction=0.5)) == 6


def test_a_class_emptied_by_skipping_raises(tmp_path):
    root = make_folder(tmp_path / "train", per_class=4, classes={"cat": (1, 1, 1), "dog": (2, 2, 2)})
    (root / "owl").mkdir()
    truncated(root / "owl" / "only.jpg")
    with pytest.raises(DataError, match="'owl' \\(all 1 images skipped\\)"):
        load_dataset(root)


def test_unreadable_paths_are_skipped(tmp_path):
    root = make_folder(tmp_path / "train", per_class=5)
    os.symlink(tmp_path / "gone.png", root / "cat" / "dangling.png")
    with pytest.warns(DataWarning, match="dangling.png \\(unreadable"):
        ds = load_dataset(root)
    assert len(ds) == 15 and len(ds.skipped) == 1


def test_progress_bar(tmp_path, capsys):
    load_dataset(make_folder(tmp_path / "train", per_class=2), progress=True)
    assert "checking images" in capsys.readouterr().err


# ---------------------------------------------------------------- manifests


def write_csv(path, text):
    path.write_text(text)
    return path


def test_manifest_classification(tmp_path):
    make_folder(tmp_path / "img", per_class=1)
    absolute = tmp_path / "img" / "fox" / "0.png"
    csv = write_csv(tmp_path / "labels.csv", f"path,label\nimg/cat/0.png,cat\nimg/dog/0.png,dog\n{absolute},fox\n")
    ds = load_dataset(csv)
    assert ds.class_names == ("cat", "dog", "fox") and ds.targets.tolist() == [0, 1, 2]
    assert ds.paths[0] == str(tmp_path / "img" / "cat" / "0.png") and ds.paths[2] == str(absolute)
    assert "manifest" in ds.source
    ordered = load_dataset(csv, class_names=["fox", "dog", "cat", "owl"])
    assert ordered.class_names == ("fox", "dog", "cat", "owl") and ordered.targets.tolist() == [2, 1, 0]


def test_manifest_custom_columns_and_spaces(tmp_path):
    make_folder(tmp_path, per_class=1)
    csv = write_csv(tmp_path / "m.csv", "file, kind\ncat/0.png, cat \ndog/0.png,dog\n")
    ds = load_dataset(csv, path_column="file", label_column="kind")
    assert ds.class_names == ("cat", "dog")


def test_manifest_multilabel(tmp_path):
    make_folder(tmp_path, per_class=1)
    csv = write_csv(tmp_path / "m.csv", "path,label\ncat/0.png,a;b\ndog/0.png,b | c\nfox/0.png,\n")
    ds = load_dataset(csv, task="multilabel")
    assert ds.class_names == ("a", "b", "c") and ds.num_outputs == 3
    assert ds.targets.dtype == np.float32
    assert ds.targets.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 0]]


def test_manifest_regression(tmp_path):
    make_folder(tmp_path, per_class=1)
    csv = write_csv(tmp_path / "m.csv", "path,label,x,y\ncat/0.png,1.5,1,2\ndog/0.png,-2,3,4e1\nfox/0.png,0,5,6\n")
    ds = load_dataset(csv, task="regression")
    assert ds.class_names == () and ds.num_outputs == 1
    assert ds.targets.dtype == np.float32 and ds.targets.tolist() == [1.5, -2.0, 0.0]
    two = load_dataset(csv, task="regression", label_column=("x", "y"))
    assert two.targets.shape == (3, 2) and two.num_outputs == 2 and two.targets[1, 1] == 40
    bad = write_csv(tmp_path / "bad.csv", "path,label\ncat/0.png,1.5\ndog/0.png,tall\n")
    with pytest.raises(DataError, match="must be finite numbers.*line 3 label='tall'"):
        load_dataset(bad, task="regression")


def test_manifest_missing_columns(tmp_path):
    csv = write_csv(tmp_path / "m.csv", "file,label\na.png,cat\n")
    with pytest.raises(DataError, match="no column 'path' \\(its columns: 'file', 'label'\\)"):
        load_dataset(csv)
    with pytest.raises(DataError, match="no column 'x', 'y'"):
        load_dataset(csv, path_column="file", task="regression", label_column=("x", "y"))


def test_manifest_missing_paths(tmp_path):
    make_folder(tmp_path, per_class=4)
    rows = [f"{name}/{i}.png,{name}" for name in COLOURS for i in range(4)]
    csv = write_csv(tmp_path / "few.csv", "path,label\n" + "\n".join([*rows, "cat/9.png,cat"]) + "\n")
    with pytest.warns(DataWarning, match="skipped 1 of 13 images .*9.png \\(file not found\\)"):
        ds = load_dataset(csv)
    assert len(ds) == 12 and ds.skipped == ((str(tmp_path / "cat" / "9.png"), "file not found"),)
    lost = [f"{name}/{i}.png,{name}" for name in COLOURS for i in range(5, 9)]
    csv = write_csv(tmp_path / "many.csv", "path,label\n" + "\n".join(rows + lost) + "\n")
    with pytest.raises(DataError, match="12 of the 24 paths in manifest .* do not exist"):
        load_dataset(csv)


def test_manifest_empty_raises(tmp_path):
    with pytest.raises(DataError, match="empty"):
        load_dataset(write_csv(tmp_path / "m.csv", "path,label\n"))


# ---------------------------------------------------------------- arrays


def test_arrays_rgb_and_labels():
    x = np.arange(4 * 8 * 8 * 3).reshape(4, 8, 8, 3) % 256
    ds = load_dataset((x.astype(np.float64), np.array(["b", "a", "b", "c"])))
    assert ds.images.dtype == np.uint8 and ds.images.shape == (4, 8, 8, 3)
    np.testing.assert_array_equal(ds.images, x)
    assert ds.paths is None and ds.class_names == ("a", "b", "c") and ds.targets.tolist() == [1, 0, 1, 2]
    ints = load_dataset((x, [0, 2, 2, 0]))
    assert ints.class_names == ("0", "1", "2") and ints.targets.tolist() == [0, 2, 2, 0]
    named = load_dataset((x, [0, 1, 1, 0]), class_names=["no", "yes"])
    assert named.class_names == ("no", "yes")
    onehot = load_dataset((x, np.eye(3)[[0, 1, 2, 1]]))
    assert onehot.targets.tolist() == [0, 1, 2, 1]


@pytest.mark.parametrize("shape", [(3, 6, 5), (3, 6, 5, 1)])
def test_grey_arrays_become_rgb(shape):
    x = np.full(shape, 77, dtype=np.int32)
    x[1] = 78  # distinct content: the same pixels under two labels are refused
    ds = load_dataset((x, [0, 1, 0]))
    assert ds.images.shape == (3, 6, 5, 3) and (ds.images[[0, 2]] == 77).all() and (ds.images[1] == 78).all()


def test_rgba_arrays_composite_onto_white():
    x = np.zeros((2, 4, 4, 4), np.uint8)
    x[1, ..., 3] = 255
    ds = load_dataset((x, [0, 1]))
    assert ds.images[0, 0, 0].tolist() == [255, 255, 255] and ds.images[1, 0, 0].tolist() == [0, 0, 0]


def test_arrays_multilabel_and_regression():
    x = np.zeros((3, 8, 8, 3), np.uint8)
    x[:, 0, 0, 0] = [0, 1, 2]  # distinct content
    multi = load_dataset((x, [[1, 0], [1, 1], [0, 0]]), task="multilabel", class_names=["sky", "sea"])
    assert multi.targets.dtype == np.float32 and multi.class_names == ("sky", "sea") and multi.num_outputs == 2
    reg = load_dataset((x, np.array([[1, 2, 3]] * 3)), task="regression")
    assert reg.targets.dtype == np.float32 and reg.num_outputs == 3
    with pytest.raises(DataError, match="regression labels must be numbers"):
        load_dataset((x, ["a", "b", "c"]), task="regression")
    with pytest.raises(DataError, match="multi-hot"):
        load_dataset((x, [[2, 0], [1, 1], [0, 0]]), task="multilabel")


def test_array_errors():
    with pytest.raises(DataError, match="\\[0, 255\\]"):
        load_dataset((np.full((2, 4, 4, 3), -1.0), [0, 1]))
    with pytest.raises(DataError, match="shape"):
        load_dataset((np.zeros((2, 4, 4, 2)), [0, 1]))
    with pytest.raises(DataError, match="2 images but y has 3"):
        load_dataset((np.zeros((2, 4, 4, 3)), [0, 1, 1]))
    with pytest.raises(DataError, match="empty"):
        load_dataset((np.zeros((0, 4, 4, 3)), np.zeros(0, np.int64)))
    with pytest.raises(DataError, match="at least two classes, found only '0'"):
        load_dataset((np.zeros((2, 4, 4, 3)), [0, 0]))
    with pytest.warns(DataWarning, match="within \\[0, 1\\]"):
        load_dataset((np.stack([np.full((4, 4, 3), 0.2), np.ones((4, 4, 3))]), [0, 1]))


def test_unknown_labels_name_them_and_the_known_ones(tmp_path):
    x = np.zeros((3, 4, 4, 3), np.uint8)
    with pytest.raises(DataError, match="unknown label\\(s\\) 'emu'; the known classes are 'cat', 'dog'"):
        load_dataset((x, ["cat", "emu", "dog"]), class_names=["cat", "dog"])
    with pytest.raises(DataError, match="unknown label\\(s\\) '5'"):
        load_dataset((x, [0, 5, 1]), class_names=["cat", "dog"])
    root = make_folder(tmp_path / "train", per_class=1)
    with pytest.raises(DataError, match="unknown label\\(s\\) 'fox'"):
        load_dataset(root, class_names=["cat", "dog"])


def test_a_dataset_passes_through():
    ds = load_dataset((np.arange(4).reshape(4, 1, 1, 1) * np.ones((1, 4, 4, 3), np.uint8), ["b", "a", "b", "a"]))
    assert load_dataset(ds) is ds
    reordered = load_dataset(ds, class_names=["c", "b", "a"])
    assert reordered.targets.tolist() == [1, 2, 1, 2] and reordered.images is ds.images
    with pytest.raises(DataError, match="for classification, not regression"):
        load_dataset(ds, task="regression")


# ---------------------------------------------------------------- digests


@pytest.mark.filterwarnings("ignore:.*repeat the content")
def test_digests_follow_content(tmp_path):
    root = make_folder(tmp_path / "train", per_class=1)
    solid(root / "cat" / "twin.png", COLOURS["cat"], size=(8, 10))  # same bytes as cat/0.png
    first = load_dataset(root)
    assert first.digests[0] == first.digests[1]
    solid(root / "dog" / "0.png", (1, 2, 3), size=(8, 10))
    second = load_dataset(root)
    assert second.digests[0] == first.digests[0] and second.digests[2] != first.digests[2]
    pixels = np.zeros((3, 4, 4, 3), np.uint8)
    pixels[2] = 7
    arrays = load_dataset((pixels, [0, 0, 1]))
    assert arrays.digests[0] == arrays.digests[1] != arrays.digests[2]
    assert load_dataset((pixels.astype(np.float32), [0, 0, 1])).digests == arrays.digests


# ---------------------------------------------------------------- split


def counts(ds):
    return np.bincount(ds.targets, minlength=len(ds.class_names)).tolist()


def test_stratified_split():
    y = np.repeat([0, 1, 2], [10, 20, 2])
    ds = load_dataset((np.arange(32 * 16 * 3).reshape(32, 4, 4, 3) % 251, y))  # 32 distinct images
    train, val = split(ds, val_fraction=0.2, seed=1)
    assert counts(val) == [2, 4, 1] and counts(train) == [8, 16, 1]
    assert sorted(train.digests + val.digests) == sorted(ds.digests)
    again_train, again_val = split(ds, val_fraction=0.2, seed=1)
    assert again_val.digests == val.digests and again_train.digests == train.digests
    assert split(ds, val_fraction=0.2, seed=2)[1].digests != val.digests
    assert val.class_names == ds.class_names


def test_random_split_for_other_tasks():
    x = np.arange(10 * 48).reshape(10, 4, 4, 3) % 256
    train, val = split(load_dataset((x, np.arange(10.0)), task="regression"), val_fraction=0.3)
    assert (len(train), len(val)) == (7, 3)
    assert sorted(train.targets.tolist() + val.targets.tolist()) == list(range(10))


def test_split_too_small():
    with pytest.raises(DataError, match="too small to split"):
        split(load_dataset((np.arange(2).reshape(2, 1, 1, 1) * np.ones((1, 4, 4, 3), np.uint8), [0, 1])))
    with pytest.raises(DataError, match="too small to split"):
        split(load_dataset((np.zeros((1, 4, 4, 3)), [0.5]), task="regression"))


# ---------------------------------------------------------------- pipeline


def test_pipeline_from_files_keeps_order_and_resizes(tmp_path):
    ds = load_dataset(make_folder(tmp_path / "train", per_class=3))
    batches = list(image_pipeline(ds, image_size=(6, 7), batch_size=4))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 6, 7, 3), (4, 6, 7, 3), (1, 6, 7, 3)]
    x = np.concatenate([x.numpy() for x, _ in batches])
    y = np.concatenate([y.numpy() for _, y in batches])
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert y.tolist() == ds.targets.tolist()
    expected = np.array([COLOURS[ds.class_names[t]] for t in y], np.float32)
    np.testing.assert_allclose(x[:, 3, 3], expected, atol=0.5)


def test_pipeline_spec_shuffle_and_without_targets(tmp_path):
    ds = load_dataset(make_folder(tmp_path / "train", per_class=4))
    pipeline = image_pipeline(ds, image_size=(10, 8), batch_size=5, shuffle=True, seed=3)
    spec = pipeline.element_spec
    assert spec[0].shape.as_list() == [None, 10, 8, 3] and spec[1].shape.as_list() == [None]
    epoch = np.concatenate([y.numpy() for _, y in pipeline])
    assert sorted(epoch.tolist()) == sorted(ds.targets.tolist()) and epoch.tolist() != ds.targets.tolist()
    images_only = image_pipeline(ds, image_size=(10, 8), batch_size=12, with_targets=False)
    assert images_only.element_spec.shape.as_list() == [None, 10, 8, 3]
    assert next(iter(images_only)).shape == (12, 10, 8, 3)


def test_pipeline_from_arrays():
    x = np.arange(6 * 8 * 8 * 3).reshape(6, 8, 8, 3) % 251  # 6 distinct images
    ds = load_dataset((x, np.arange(12.0).reshape(6, 2)), task="regression")
    same = list(image_pipeline(ds, image_size=(8, 8), batch_size=4))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in same]), x.astype(np.float32))
    assert same[0][1].dtype == np.float32 and same[0][1].shape == (4, 2)
    resized = next(iter(image_pipeline(ds, image_size=(4, 5), batch_size=6, interpolation="bicubic")))[0]
    assert resized.shape == (6, 4, 5, 3) and 0 <= resized.numpy().min() and resized.numpy().max() <= 255


def test_augmentation_changes_pixels_and_keeps_shapes():
    x = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    ds = load_dataset((x, np.arange(8) % 2))
    plain = next(iter(image_pipeline(ds, image_size=(16, 16), batch_size=8)))[0].numpy()
    for augment in [True, *([name] for name in AUGMENTATIONS)]:
        pipeline = image_pipeline(ds, image_size=(16, 16), batch_size=8, augment=augment)
        assert pipeline.element_spec[0].shape.as_list() == [None, 16, 16, 3]
        augmented = next(iter(pipeline))[0].numpy()
        assert augmented.shape == plain.shape and not np.allclose(augmented, plain), augment


def test_augmentation_names():
    assert augmentation_layers(None, (8, 8)) == [] and augmentation_layers(False, (8, 8)) == []
    assert len(augmentation_layers(["flip"], (8, 8))) == 1
    with pytest.raises(ValueError, match="unknown augmentation \\['blur'\\]; known: crop, flip"):
        augmentation_layers(["flip", "blur"], (8, 8))
    ds = load_dataset((np.arange(2).reshape(2, 1, 1, 1) * np.ones((1, 4, 4, 3), np.uint8), [0, 1]))
    with pytest.raises(ValueError, match="unknown augmentation"):
        image_pipeline(ds, image_size=(4, 4), augment="sharpen")


# ---------------------------------------------------------------- imports and the record


def test_sources_import_neither_tensorflow_nor_keras():
    code = "import sys, zoo.data; print(sorted({'tensorflow', 'keras'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_dataset_record_checks_itself():
    with pytest.raises(DataError, match="one entry per example"):
        Dataset("classification", np.array([0, 1]), ("a", "b"), ("d1",), images=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(DataError, match="class indices"):
        Dataset("classification", np.array([0, 2]), ("a", "b"), ("d1", "d2"), paths=("x", "y"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = Dataset("regression", [0.5, 1.5], (), ("d1", "d2"), paths=("x", "y"))
    assert ds.targets.dtype == np.float32 and "regression" in repr(ds)
    assert ds.subset(np.array([False, True])).paths == ("y",)
