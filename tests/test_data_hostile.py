"""Hostile data, round two (issue 20, items 4, 10, 11 and 15): special files named ``*.txt``, labels that look
the same, leakage the split cannot see, and a resume on relabelled data."""

import io
import json
import os
import shutil
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import zoo
import zoo.run
from zoo.data import Dataset, load_dataset, split
from zoo.data.sources import unlabelled
from zoo.data.split import check_separate
from zoo.errors import ConfigError, DataError, DataWarning, RunError

NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
TINY = dict(weights=None, epochs=1, batch_size=4, verbose=0)


def pixels(seed, size=16):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def png(path, seed, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels(seed)).save(path, "PNG", **options)
    return path


def image_folder(root, classes=("a", "b"), per_class=4, seed=0):
    for c, label in enumerate(classes):
        for i in range(per_class):
            png(root / label / f"{i}.png", seed + 10 * c + i)
    return root


def text_folder(root, per_class=5):
    for label in ("sport", "weather"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            (root / label / f"{i}.txt").write_text(f"{label} text number {i}")
    return root


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# ---------------------------------------------------------------- item 4: special files named *.txt

SCAN = """if True:
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # /dev/zero read whole: MemoryError, not the machine
    from zoo.data import load_dataset
    from zoo.data.sources import unlabelled
    dataset = load_dataset(sys.argv[1])
    try:
        unlabelled(sys.argv[1] + "/sport", "text")
        refused = None
    except Exception as err:
        refused = f"{type(err).__name__}: {err}"
    tables = []
    for table in sys.argv[2:]:
        try:
            load_dataset(table)
        except Exception as err:
            tables.append(f"{type(err).__name__}: {str(err).replace(' as a CSV file', '')}")
    print(json.dumps({"n": len(dataset), "skipped": dataset.skipped, "predict": refused, "tables": tables}))
"""


def test_a_fifo_and_a_link_to_dev_zero_named_txt_are_skipped_without_blocking(tmp_path):
    root = text_folder(tmp_path / "texts")
    os.mkfifo(root / "sport" / "waiting.txt")  # opened to read, it would wait for a writer forever
    (root / "weather" / "endless.txt").symlink_to("/dev/zero")  # read whole, it would fill the memory
    os.mkfifo(tmp_path / "fifo.csv")  # a table given as data: the same
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")
    tables = [str(tmp_path / "fifo.csv"), str(tmp_path / "zero.jsonl")]
    result = subprocess.run(
        [sys.executable, "-c", SCAN, str(root), *tables], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["n"] == 10
    reasons = {os.path.basename(path): reason for path, reason in report["skipped"]}
    assert reasons == {
        "waiting.txt": "not a regular file (a FIFO)",
        "endless.txt": "not a regular file (a character device)",
    }
    assert "skipped 2 of 12 text files that cannot be read" in result.stderr
    assert (
        report["predict"].startswith("DataError: ") and "waiting.txt: not a regular file (a FIFO)" in report["predict"]
    )
    kinds = {"fifo.csv": "a FIFO", "zero.jsonl": "a character device"}
    assert report["tables"] == [f"DataError: cannot read {tmp_path}/{name}: not a regular file ({kinds[name]})"
                                for name in kinds]  # fmt: skip


def test_a_text_file_above_the_size_cap_is_skipped_and_the_cap_is_configurable(tmp_path, monkeypatch):
    root = text_folder(tmp_path / "texts")
    write(root / "sport" / "long.txt", "goal " * 40)  # 200 bytes
    monkeypatch.setenv("ZOO_MAX_TEXT_BYTES", "100")
    with pytest.warns(DataWarning, match=r"skipped 1 of 11 text files"):
        dataset = load_dataset(root)
    ((path, reason),) = dataset.skipped
    assert path.endswith("long.txt") and "larger than 100 bytes" in reason and "ZOO_MAX_TEXT_BYTES" in reason
    with pytest.raises(DataError, match=r"long.txt: larger than 100 bytes"):
        unlabelled(root / "sport", "text")
    monkeypatch.setenv("ZOO_MAX_TEXT_BYTES", "200")  # at the cap: read
    assert len(load_dataset(root)) == 11 and not load_dataset(root).skipped
    monkeypatch.setenv("ZOO_MAX_TEXT_BYTES", "lots")
    with pytest.raises(ConfigError, match="ZOO_MAX_TEXT_BYTES must be a positive whole number of bytes"):
        load_dataset(root)


# ---------------------------------------------------------------- item 15: labels that look the same


def test_a_label_in_nfc_and_nfd_is_one_class_in_folders_manifests_and_text_tables(tmp_path):
    assert NFC != NFD
    root = image_folder(tmp_path / "folder", classes=(NFC, NFD, "tea"))
    with pytest.warns(DataWarning, match=r"class folders '.*' and '.*' are the same label 'café' in two Unicode"):
        folder = load_dataset(root)
    assert folder.class_names == (NFC, "tea") and np.bincount(folder.targets).tolist() == [8, 4]

    images = image_folder(tmp_path / "images", classes=("x",), per_class=6, seed=100)
    rows = [f"x/{i}.png,{[NFC, NFD, 'tea'][i % 3]}" for i in range(6)]
    with pytest.warns(DataWarning, match="the same label in two Unicode forms"):
        manifest = load_dataset(write(images / "m.csv", "path,label\n" + "\n".join(rows) + "\n"))
    assert manifest.class_names == (NFC, "tea") and manifest.targets.tolist() == [0, 0, 1, 0, 0, 1]

    table = "text,label\n" + "".join(f"text {i},{[NFD, 'tea'][i % 2]}\n" for i in range(4))
    assert load_dataset(write(tmp_path / "t.csv", table)).class_names == (NFC, "tea")  # NFD alone: no warning
    lines = "".join(json.dumps({"text": f"t{i}", "label": [NFC, NFD, "tea"][i % 3]}) + "\n" for i in range(6))
    with pytest.warns(DataWarning, match="the same label in two Unicode forms"):
        assert load_dataset(write(tmp_path / "t.jsonl", lines)).class_names == (NFC, "tea")
    multilabel = write(tmp_path / "m.csv", f"text,label\none,{NFC};{NFD}\ntwo,tea|{NFD}\n")
    with pytest.warns(DataWarning, match="the same label in two Unicode forms"):
        assert load_dataset(multilabel, task="multilabel").targets.tolist() == [[1, 0], [1, 1]]
    # given class names (a run's labels) are read the same way
    with pytest.warns(DataWarning, match="the same label"):
        assert load_dataset(root, class_names=[NFD, "tea"]).class_names == (NFC, "tea")


def test_control_characters_in_labels_are_refused_in_one_line_naming_the_rows(tmp_path):
    lines = "".join(json.dumps({"text": f"t{i}", "label": ["a", "a\x00", "b"][i % 3]}) + "\n" for i in range(6))
    with pytest.raises(DataError, match=r"2 labels? hold control characters .*line 2 'a\\x00'.*line 5") as err:
        load_dataset(write(tmp_path / "t.jsonl", lines))
    assert "\n" not in str(err.value) and "remove" in str(err.value)

    images = image_folder(tmp_path / "images", classes=("x",), per_class=4)
    manifest = write(images / "m.csv", 'path,label\nx/0.png,a\nx/1.png,b\nx/2.png,"b\x1b[31m"\nx/3.png,a\n')
    with pytest.raises(DataError, match=r"1 label holds control characters in manifest .*m.csv.*line 4 'b\\x1b\[31m'"):
        load_dataset(manifest)
    table = write(tmp_path / "t.tsv", "text\tlabel\none\ta\ntwo\tb\x00\nthree\tb\n")
    with pytest.raises(DataError, match=r"line 3 'b\\x00'"):
        load_dataset(table)

    root = image_folder(tmp_path / "folder", classes=("cat", "dog\x1b[2J"))
    with pytest.raises(DataError, match=r"class folder 'dog\\x1b\[2J' holds control characters; rename") as err:
        load_dataset(root)
    assert "\x1b" not in str(err.value)
    with pytest.raises(DataError, match=r"control characters .*item 1 'b\\x00'"):
        load_dataset((np.arange(48).reshape(3, 4, 4, 1), ["a", "b\x00", "a"]))


def test_files_beside_the_class_folders_are_said_to_be_left_out(tmp_path):
    root = image_folder(tmp_path / "images", classes=("cat", "dog"))
    shutil.copy(next((root / "cat").iterdir()), root / "stray.png")
    (root / "README.txt").write_text("about the images")  # not an image: no example of an image dataset
    with pytest.warns(DataWarning, match=r"a file beside the class folders, with no label, left out \('stray.png'\)"):
        assert len(load_dataset(root)) == 8


def test_a_blank_label_is_refused_in_one_line(tmp_path):
    root = image_folder(tmp_path / "folder", classes=("cat", " "))
    with pytest.raises(DataError, match=r"a class folder has a blank name \(only spaces\): ' '; rename it"):
        load_dataset(root)
    with pytest.raises(DataError, match=r"2 labels are blank \(empty or only spaces\) in .*item 1 ''.*item 2 '  '"):
        load_dataset((np.arange(48).reshape(3, 4, 4, 1), ["a", "", "  "]))


# ---------------------------------------------------------------- item 11: leakage the split cannot see


def test_val_equal_to_or_a_copy_of_data_is_refused_before_training(tmp_path):
    data = image_folder(tmp_path / "data")
    shutil.copytree(data, tmp_path / "copy")
    for val in (data, tmp_path / "copy"):
        with pytest.raises(DataError, match=r"\(--val, .*\) holds the same 8 examples as the training data") as err:
            zoo.train("tiny_image", data, val, out=tmp_path / "out", **TINY)
        assert "\n" not in str(err.value)
        assert not (tmp_path / "out").exists()


def test_one_shared_example_of_datasets_without_a_source_is_named_in_the_refusal():
    one = np.full((1, 4, 4, 3), 9, np.uint8)
    train, val = (Dataset("classification", np.array([0]), ("a",), ("its digest",), images=one) for _ in range(2))
    with pytest.raises(DataError, match=r"^the validation data \(--val, a Dataset\) holds the same 1 example as the "
                       r"training data \(--data, a Dataset\)"):  # fmt: skip
        check_separate(train, val)


def test_val_overlapping_data_is_counted_in_a_warning(tmp_path):
    data = image_folder(tmp_path / "data")
    val = image_folder(tmp_path / "val", seed=500)
    shutil.copyfile(data / "a" / "0.png", val / "a" / "0.png")
    Image.open(data / "b" / "1.png").save(val / "b" / "1.png", pnginfo=_text_chunk())  # the same pixels
    with pytest.warns(DataWarning, match=r"2 of the 8 examples of the validation data .* are also in the training"):
        run = zoo.train("tiny_image", data, val, out=tmp_path / "out", **TINY)
    assert run.complete


def _text_chunk():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "saved again by another tool")
    return info


def _with_app1(jpeg, payload):
    """The JPEG ``jpeg`` with one more APP1 (EXIF) segment holding ``payload``: other bytes, the same pixels."""
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def _exif(make):
    exif = Image.Exif()
    exif[0x010F] = make  # the camera's maker
    return exif.tobytes()


def _jpeg(image, quality=90):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_pixel_identical_files_with_other_metadata_are_duplicates(tmp_path):
    root = image_folder(tmp_path / "data", per_class=6)
    Image.open(root / "a" / "0.png").save(root / "a" / "resaved.png", pnginfo=_text_chunk())
    jpeg = _jpeg(Image.fromarray(pixels(77)))
    write(root / "b" / "camera.jpg", _with_app1(jpeg, _exif("Camera A")))
    write(root / "b" / "edited.jpg", _with_app1(jpeg, _exif("Another Camera")))
    assert len({p.read_bytes() for p in (root / "b").glob("*.jpg")}) == 2
    with pytest.warns(DataWarning, match=r"2 of 15 examples .* repeat the content of another"):
        dataset = load_dataset(root)
    assert len(set(dataset.digests)) == 15  # the feature cache's keys: the bytes, which differ
    for seed in range(4):
        train, val = split(dataset, 0.5, seed=seed)
        names = [{os.path.basename(p) for p in part.paths} for part in (train, val)]
        assert len(train) + len(val) == 13
        assert not ({"0.png", "resaved.png"} <= names[0] | names[1])  # one of the two, on one side
        assert not ({"camera.jpg", "edited.jpg"} <= names[0] | names[1])
    shutil.move(root / "a" / "resaved.png", root / "b" / "resaved.png")
    with pytest.raises(DataError, match=r"same content has different labels.*a/0.png 'a' and .*b/resaved.png 'b'"):
        load_dataset(root)


def test_large_jpegs_checked_at_a_reduced_scale_are_compared_at_full_scale(tmp_path):
    rng = np.random.default_rng(1)
    big = Image.fromarray(rng.integers(0, 256, (75, 75, 3), dtype=np.uint8)).resize((1200, 1200))
    jpeg = _jpeg(big)
    root = image_folder(tmp_path / "data", per_class=3)
    write(root / "a" / "big.jpg", _with_app1(jpeg, _exif("Camera A")))
    write(root / "a" / "big-edited.jpg", _with_app1(jpeg, _exif("Another Camera")))
    fine = big.copy()
    fine.putpixel((600, 600), (0, 0, 0) if big.getpixel((600, 600))[0] > 127 else (255, 255, 255))
    write(root / "b" / "big-other.jpg", _jpeg(fine, quality=100))  # another image, alike at a reduced scale
    with pytest.warns(
        DataWarning, match=r"1 of 9 examples .* use each content once: \S+/big(-edited)?\.jpg = \S+/big(-edit|\.jpg)"
    ):
        dataset = load_dataset(root)
    keys = dict(zip((os.path.basename(p) for p in dataset.paths), dataset.pixel_digests, strict=True))
    assert keys["big.jpg"] == keys["big-edited.jpg"] != keys["big-other.jpg"]
    assert keys["big-other.jpg"].startswith("reduced:") and not keys["big.jpg"].startswith("reduced:")  # decoded whole


# ---------------------------------------------------------------- item 10: the run's data identity


def _interrupted_run(data, out, monkeypatch):
    """A run of two epochs stopped (Ctrl-C) once phase 1's first epoch is saved: unfinished, resumable."""
    save_state = zoo.run.Run.save_state

    def save_then_interrupt(run, state):
        save_state(run, state)
        if state.phase == 1 and state.epoch == 1:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(zoo.run.Run, "save_state", save_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            zoo.train("tiny_image", data, data.parent / "val.csv", out=out, **{**TINY, "epochs": 2})
    assert not zoo.Run(out).complete


@pytest.mark.slow
def test_a_resume_on_relabelled_data_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    images = image_folder(tmp_path / "images", classes=("x",), per_class=12)
    rows = [f"images/x/{i}.png,{'ab'[i % 2]}" for i in range(12)]
    data = write(tmp_path / "train.csv", "path,label\n" + "\n".join(rows[:8]) + "\n")
    write(tmp_path / "val.csv", "path,label\n" + "\n".join(rows[8:]) + "\n")
    assert images.is_dir()
    out = tmp_path / "run"
    _interrupted_run(data, out, monkeypatch)
    state = (out / "state.json").read_bytes()
    swapped = [row.replace(",a", ",B").replace(",b", ",a").replace(",B", ",b") for row in rows[:8]]
    write(data, "path,label\n" + "\n".join(swapped) + "\n")  # the same files, their labels swapped
    relabelled = r"the labels of the data changed since .*run started .*start a new run"
    with pytest.raises(RunError, match=relabelled):  # the same command again
        zoo.train("tiny_image", data, tmp_path / "val.csv", out=out, **{**TINY, "epochs": 2})
    with pytest.raises(RunError, match=relabelled):
        zoo.resume(out, verbose=0)
    assert (out / "state.json").read_bytes() == state
    write(data, "path,label\n" + "\n".join(rows[:8]) + "\n")  # the labels it started with: it goes on
    assert zoo.resume(out, verbose=0).complete


def test_regression_targets_too_large_for_float32_are_refused_and_large_ones_warned_about(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    y = np.linspace(1, 2, 16)
    options = dict(task="regression", weights=None, epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"regression targets of .* reach 2e\+20: their squares overflow"):
        zoo.train("tiny_image", (x, y * 1e20), out=tmp_path / "huge", **options)  # trained to inf, then crashed
    assert not (tmp_path / "huge").exists()
    with pytest.warns(DataWarning, match=r"regression targets of .* reach 2e\+05: the head starts near 0"):
        run = zoo.train("tiny_image", (x, y * 1e5), out=tmp_path / "large", **options)
    assert run.complete and np.isfinite(run.metrics["rmse"])
