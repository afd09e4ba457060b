"""zoo.data for texts: CSV, TSV, JSON Lines, folders of .txt files and lists of strings; the text pipeline."""

import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

from zoo.data import Dataset, load_dataset, pipeline, split, text_pipeline, topics_path
from zoo.errors import DataError, DataWarning

TEXTS = {"sports": ["Late winner at the derby.", "She won in straight sets."], "weather": ["Fog by dawn.", "Hail!"]}


def write(path, content):
    """Write ``content`` (str as UTF-8, or bytes as they are), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def write_jsonl(path, records):
    return write(path, "".join(json.dumps(record) + "\n" for record in records))


def png(path, colour=(0, 0, 0)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), colour).save(path)
    return path


def text_folder(root, classes=TEXTS):
    for name, texts in classes.items():
        for i, text in enumerate(texts):
            write(root / name / f"{i}.txt", text)
    return root


# ---------------------------------------------------------------- formats


def test_csv_classification(tmp_path):
    csv = write(
        tmp_path / "t.csv",
        'text,label\nGoal in the last minute.,sports\n"Rain, then sun.",weather\n'
        '"She said ""again"",\nand left.",sports\n',
    )
    ds = load_dataset(csv)
    assert ds.modality == "text" and ds.paths is None and ds.images is None
    assert ds.texts == ("Goal in the last minute.", "Rain, then sun.", 'She said "again",\nand left.')
    assert ds.class_names == ("sports", "weather") and ds.targets.tolist() == [0, 1, 0]
    assert ds.targets.dtype == np.int64 and ds.num_outputs == 2
    assert all(len(d) == 64 for d in ds.digests)
    assert "text file" in ds.source and "3 texts" in repr(ds)
    ordered = load_dataset(csv, class_names=["weather", "sports", "cooking"])
    assert ordered.class_names == ("weather", "sports", "cooking") and ordered.targets.tolist() == [1, 0, 1]


def test_tsv_with_custom_columns(tmp_path):
    tsv = write(tmp_path / "t.tsv", "id\tbody\ttopic\n1\tFresh snow, deep drifts.\tweather\n2\tOvertime win\tsports\n")
    ds = load_dataset(tsv, text_column="body", label_column="topic")
    assert ds.texts == ("Fresh snow, deep drifts.", "Overtime win") and ds.class_names == ("sports", "weather")


def test_a_csv_with_a_path_column_stays_an_image_manifest(tmp_path):
    png(tmp_path / "a.png"), png(tmp_path / "b.png", (9, 9, 9))
    csv = write(tmp_path / "m.csv", "path,text,label\na.png,a red one,x\nb.png,another,y\n")
    ds = load_dataset(csv)
    assert ds.modality == "image" and ds.texts is None and len(ds.paths) == 2


def test_jsonl_classification(tmp_path):
    records = [{"text": "Whisk the eggs.", "label": "cooking", "id": 1}, {"text": "Storm at sea.", "label": "weather"}]
    path = write(tmp_path / "t.jsonl", json.dumps(records[0]) + "\n\n  \n" + json.dumps(records[1]) + "\r\n")
    ds = load_dataset(path)
    assert ds.modality == "text" and ds.texts == ("Whisk the eggs.", "Storm at sea.")
    assert ds.class_names == ("cooking", "weather") and ds.targets.tolist() == [0, 1]
    assert "JSON Lines" in ds.source
    numbered = load_dataset(
        write_jsonl(tmp_path / "n.jsonl", [{"t": "a", "y": 1}, {"t": "b", "y": 0}]), text_column="t", label_column="y"
    )
    assert numbered.class_names == ("0", "1") and numbered.targets.tolist() == [1, 0]


def test_folder_of_text_files(tmp_path):
    root = text_folder(tmp_path / "train")
    write(root / "sports" / "nested" / "LOUD.TXT", "Penalty saved!\n")
    write(root / "weather" / ".hidden.txt", "ignored")
    write(root / "weather" / "notes.md", "ignored: not a .txt file")
    (root / ".cache").mkdir()
    ds = load_dataset(root)
    assert ds.modality == "text" and ds.class_names == ("sports", "weather")
    assert ds.texts == (*TEXTS["sports"], "Penalty saved!\n", *TEXTS["weather"])
    assert ds.targets.tolist() == [0, 0, 0, 1, 1]
    assert "2 classes" in ds.source
    (root / "owl").mkdir()
    with pytest.raises(DataError, match="'owl' \\(no texts\\)"):
        load_dataset(root)


def test_folder_mixing_images_and_texts(tmp_path):
    root = tmp_path / "mixed"
    png(root / "cat" / "0.png")
    write(root / "cat" / "README.txt", "notes beside images are not examples")
    write(root / "dog" / "0.txt", "a dog, in words")
    with pytest.raises(DataError, match="'dog' hold only .txt files, 'cat' images; put image and text datasets in sep"):
        load_dataset(root)
    png(root / "dog" / "0.png", (9, 9, 9))  # not cat/0.png's content, which would be refused under two labels
    assert load_dataset(root).modality == "image"


def test_unreadable_text_files_are_skipped(tmp_path):
    root = text_folder(tmp_path / "train", {"a": ["1", "2", "3"], "b": ["4", "5", "6"]})
    os.symlink(tmp_path / "gone.txt", root / "a" / "dangling.txt")
    with pytest.warns(DataWarning, match="skipped 1 of 7 text files .*dangling.txt \\(unreadable"):
        ds = load_dataset(root)
    assert len(ds) == 6 and ds.skipped[0][0] == str(root / "a" / "dangling.txt")
    with pytest.raises(DataError, match="1 of 7 text files .* more than max_bad_fraction=0.1"):
        load_dataset(root, max_bad_fraction=0.1)


# ---------------------------------------------------------------- tasks


def test_multilabel_texts(tmp_path):
    csv = write(tmp_path / "m.csv", "text,label\nsun and wind,sun;wind\nrain | wind,rain|wind\nnothing,\n")
    ds = load_dataset(csv, task="multilabel")
    assert ds.class_names == ("rain", "sun", "wind") and ds.targets.dtype == np.float32
    assert ds.targets.tolist() == [[0, 1, 1], [1, 0, 1], [0, 0, 0]]
    records = [
        {"text": "a", "label": ["sun", "wind", "sun"]},
        {"text": "b", "label": "rain;sun"},
        {"text": "c", "label": None},
    ]
    from_jsonl = load_dataset(write_jsonl(tmp_path / "m.jsonl", records), task="multilabel")
    assert from_jsonl.class_names == ("rain", "sun", "wind")
    assert from_jsonl.targets.tolist() == [[0, 1, 1], [1, 1, 0], [0, 0, 0]]


def test_regression_texts(tmp_path):
    csv = write(tmp_path / "r.csv", "text,label,x,y\nmild,12.5,1,2\nfreezing,-3,3,4e1\n")
    ds = load_dataset(csv, task="regression")
    assert ds.class_names == () and ds.targets.dtype == np.float32 and ds.targets.tolist() == [12.5, -3.0]
    two = load_dataset(csv, task="regression", label_column=("x", "y"))
    assert two.targets.shape == (2, 2) and two.num_outputs == 2
    jsonl = write_jsonl(tmp_path / "r.jsonl", [{"text": "hot", "label": 31}, {"text": "cool", "label": "9.5"}])
    assert load_dataset(jsonl, task="regression").targets.tolist() == [31.0, 9.5]
    bad = write(tmp_path / "bad.csv", "text,label\nmild,12\nwarm,tepid\n")
    with pytest.raises(DataError, match="must be finite numbers.*line 3 label='tepid'"):
        load_dataset(bad, task="regression")
    bad_json = write_jsonl(tmp_path / "bad.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": [1, 2]}])
    with pytest.raises(DataError, match="line 2: a regression label must be one value"):
        load_dataset(bad_json, task="regression")


def test_arrays_of_strings():
    for texts in (["Goal!", "Snow.", "Goal!"], ("Goal!", "Snow.", "Goal!"), np.array(["Goal!", "Snow.", "Goal!"])):
        ds = load_dataset((texts, ["sports", "weather", "sports"]))
        assert ds.modality == "text" and ds.texts == ("Goal!", "Snow.", "Goal!")
        assert all(type(t) is str for t in ds.texts)
        assert ds.class_names == ("sports", "weather") and ds.targets.tolist() == [0, 1, 0]
    objects = load_dataset((np.array(["a", "b"], dtype=object), [0, 1]))
    assert objects.texts == ("a", "b") and objects.class_names == ("0", "1")
    multi = load_dataset((["a", "b"], [[1, 0], [1, 1]]), task="multilabel", class_names=["x", "y"])
    assert multi.targets.dtype == np.float32 and multi.num_outputs == 2
    reg = load_dataset((["a", "b"], [0.5, 2.0]), task="regression")
    assert reg.targets.tolist() == [0.5, 2.0]
    with pytest.raises(DataError, match="x has 2 texts but y has 3 labels"):
        load_dataset((["a", "b"], [0, 1, 1]))
    with pytest.raises(DataError, match="texts must all be strings; 1 are not: item 1 \\(NoneType\\)"):
        load_dataset((["a", None], [0, 1]))


# ---------------------------------------------------------------- bytes


def test_bytes_that_are_not_utf8_are_replaced_with_one_warning(tmp_path):
    csv = write(tmp_path / "t.csv", b"text,label\ncaf\xe9 au lait,cooking\nfine,weather\n\xff\xfe oops,sports\n")
    with pytest.warns(DataWarning) as caught:
        ds = load_dataset(csv)
    assert len(caught) == 1
    assert "not UTF-8 with U+FFFD in 2 of 3 texts" in str(caught[0].message)
    assert "line 2, line 4" in str(caught[0].message)
    assert ds.texts == ("caf\ufffd au lait", "fine", "\ufffd\ufffd oops")
    root = text_folder(tmp_path / "train")
    write(root / "sports" / "latin1.txt", "Ol\xe9! Tor!".encode("latin-1"))
    with pytest.warns(DataWarning, match="in 1 of 5 texts .*latin1.txt") as caught:
        assert "Ol\ufffd! Tor!" in load_dataset(root).texts
    assert len(caught) == 1
    jsonl = write(tmp_path / "t.jsonl", b'{"text": "na\xefve", "label": "a"}\n{"text": "ok", "label": "b"}\n')
    with pytest.warns(DataWarning, match="in 1 of 2 texts .*: line 1"):
        assert load_dataset(jsonl).texts == ("na\ufffdve", "ok")


def test_image_manifest_that_is_not_utf8_raises(tmp_path):
    csv = write(tmp_path / "m.csv", b"path,label\nimg\xff.png,cat\n")
    with pytest.raises(DataError, match="not UTF-8 on line 2"):
        load_dataset(csv)


def test_empty_texts_are_kept_and_a_bom_is_stripped(tmp_path):
    bom = b"\xef\xbb\xbf"
    csv = write(tmp_path / "t.csv", bom + b'text,label\n"",a\nsomething,b\n')
    assert load_dataset(csv).texts == ("", "something")
    root = text_folder(tmp_path / "train")
    write(root / "sports" / "empty.txt", b"")
    write(root / "weather" / "bom.txt", bom + b"Gale warning")
    texts = load_dataset(root).texts
    assert "" in texts and "Gale warning" in texts
    jsonl = write(tmp_path / "t.jsonl", bom + b'{"text": "", "label": "a"}\n{"text": "x", "label": "b"}\n')
    assert load_dataset(jsonl).texts == ("", "x")


# ---------------------------------------------------------------- errors


def test_missing_columns_and_keys(tmp_path):
    csv = write(tmp_path / "t.csv", "text,topic\nhello,a\n")
    said = "no column 'label' \\(its columns: 'text', 'topic'\\); name its columns 'text', 'label', or in Python pass"
    with pytest.raises(DataError, match=said):  # what the zoo command can do too, then the keywords
        load_dataset(csv)
    neither = write(tmp_path / "n.csv", "body,label\nhello,a\n")
    with pytest.raises(DataError, match="no column 'path' .*name its columns 'path', 'label'.*text_column= for texts"):
        load_dataset(neither)
    with pytest.raises(DataError, match="is one image: give a folder of images with a sub-folder per class"):
        load_dataset(write(tmp_path / "one.png", "x" * 200_000))  # not read as a CSV (its field limit)
    jsonl = write_jsonl(tmp_path / "t.jsonl", [{"body": "a", "label": "x"}, {"body": "b", "label": "y"}])
    with pytest.raises(DataError, match="2 of 2 lines have no key 'text' .*the keys found are 'body', 'label'"):
        load_dataset(jsonl)
    partly = write_jsonl(tmp_path / "p.jsonl", [{"text": "a", "label": "x"}, {"text": "b"}])
    with pytest.raises(DataError, match="1 of 2 lines have no key 'label' \\(line 2\\)"):
        load_dataset(partly)


def test_empty_datasets_raise(tmp_path):
    with pytest.raises(DataError, match="the dataset is empty: text file"):
        load_dataset(write(tmp_path / "t.csv", "text,label\n"))
    with pytest.raises(DataError, match="the dataset is empty: JSON Lines"):
        load_dataset(write(tmp_path / "t.jsonl", "\n\n"))


def test_label_errors(tmp_path):
    one = write(tmp_path / "one.csv", "text,label\na,x\nb,x\n")
    with pytest.raises(DataError, match="needs at least two classes, found only 'x'"):
        load_dataset(one)
    with pytest.raises(DataError, match="needs at least two classes"):
        load_dataset(text_folder(tmp_path / "f", {"only": ["a", "b"]}))
    two = write(tmp_path / "two.csv", "text,label\na,x\nb,y\nc,z\n")
    with pytest.raises(DataError, match="unknown label\\(s\\) 'z'; the known classes are 'x', 'y'"):
        load_dataset(two, class_names=["x", "y"])
    with pytest.raises(DataError, match="unknown label\\(s\\) 'emu'"):
        load_dataset((["a", "b"], ["cat", "emu"]), class_names=["cat", "dog"])
    unlabelled = write(tmp_path / "u.csv", "text,label\na,x\nb,\n")
    with pytest.raises(DataError, match="1 rows have no label: line 3"):
        load_dataset(unlabelled)


def test_jsonl_errors(tmp_path):
    broken = write(tmp_path / "b.jsonl", '{"text": "a", "label": "x"}\n\n{"text": "b", label: "y"}\n')
    with pytest.raises(DataError, match="line 3 is not valid JSON"):
        load_dataset(broken)
    with pytest.raises(DataError, match="line 1 is a JSON list, not an object"):
        load_dataset(write(tmp_path / "l.jsonl", '["a", "x"]\n'))
    with pytest.raises(DataError, match="'text' must be a string; 1 are not: line 2"):
        load_dataset(write_jsonl(tmp_path / "n.jsonl", [{"text": "a", "label": "x"}, {"text": 5, "label": "y"}]))
    with pytest.raises(DataError, match="a classification label must be one value, got several labels"):
        load_dataset(write_jsonl(tmp_path / "m.jsonl", [{"text": "a", "label": ["x", "y"]}]))


# ---------------------------------------------------------------- the record and digests


def test_digests_follow_the_text(tmp_path):
    with pytest.warns(DataWarning, match="1 of 3 examples .* repeat the content"):  # the same text, twice
        csv = load_dataset(write(tmp_path / "t.csv", "text,label\nHail!,weather\nHail!,weather\nGoal,sports\n"))
    assert csv.digests[0] == csv.digests[1] != csv.digests[2]
    arrays = load_dataset((["Goal", "Hail!"], [0, 1]))
    assert arrays.digests == (csv.digests[2], csv.digests[0])
    assert csv.digests[0] == hashlib.sha256(b"text:Hail!").hexdigest()
    assert csv.digests[0] != hashlib.sha256(b"Hail!").hexdigest()  # the digest of a file holding those bytes
    png(tmp_path / "img" / "a" / "0.png"), png(tmp_path / "img" / "b" / "0.png", (9, 9, 9))
    assert not set(load_dataset(tmp_path / "img").digests) & set(csv.digests)


def test_dataset_record_with_texts():
    ds = Dataset("classification", [0, 1, 1], ("a", "b"), ("d1", "d2", "d3"), texts=[np.str_("x"), "y", "z"])
    assert ds.texts == ("x", "y", "z") and type(ds.texts[0]) is str
    assert ds.modality == "text" and "3 texts" in repr(ds)
    part = ds.subset(np.array([True, False, True]))
    assert part.texts == ("x", "z") and part.digests == ("d1", "d3") and part.modality == "text"
    with pytest.raises(DataError, match="texts or images"):
        Dataset("classification", [0, 1], ("a", "b"), ("d1", "d2"), paths=("p", "q"), texts=("x", "y"))
    with pytest.raises(DataError, match="texts must be strings"):
        Dataset("classification", [0, 1], ("a", "b"), ("d1", "d2"), texts=("x", 2))
    with pytest.raises(DataError, match="one entry per example"):
        Dataset("classification", [0, 1], ("a", "b"), ("d1", "d2"), texts=("x",))
    reordered = load_dataset(ds, class_names=["b", "a"])
    assert reordered.texts == ds.texts and reordered.targets.tolist() == [1, 0, 0]


# ---------------------------------------------------------------- pipelines


def test_text_pipeline_keeps_order_and_targets():
    texts = [f"text number {i}" for i in range(5)]
    ds = load_dataset((texts, [0, 1, 0, 1, 1]))
    batches = list(text_pipeline(ds, batch_size=2))
    assert [x.shape for x, _ in batches] == [(2,), (2,), (1,)]
    assert batches[0][0].dtype.name == "string" and batches[0][1].dtype.name == "int64"
    assert [t.decode() for x, _ in batches for t in x.numpy()] == texts
    assert np.concatenate([y.numpy() for _, y in batches]).tolist() == [0, 1, 0, 1, 1]
    alone = text_pipeline(ds, batch_size=5, with_targets=False)
    assert alone.element_spec.shape.as_list() == [None] and next(iter(alone)).shape == (5,)
    shuffled = [t.decode() for x, _ in text_pipeline(ds, batch_size=5, shuffle=True, seed=1) for t in x.numpy()]
    assert sorted(shuffled) == texts and shuffled != texts
    multi = load_dataset((texts[:2], [[1, 0], [1, 1]]), task="multilabel")
    y = next(iter(text_pipeline(multi)))[1]
    assert y.dtype.name == "float32" and y.shape == (2, 2)
    unicode = load_dataset((["Olé, 30°C", ""], [0, 1]))
    assert next(iter(text_pipeline(unicode)))[0].numpy().tolist() == ["Olé, 30°C".encode(), b""]


def test_text_pipeline_refuses_images_and_bad_batches():
    images = load_dataset((np.arange(2).reshape(2, 1, 1, 1) * np.ones((1, 4, 4, 3), np.uint8), [0, 1]))
    with pytest.raises(DataError, match="holds images, not texts"):
        text_pipeline(images)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        text_pipeline(load_dataset((["a", "b"], [0, 1])), batch_size=0)


def test_pipeline_dispatches_by_modality():
    texts = load_dataset((["a", "b", "c"], [0, 1, 0]))
    x, y = next(iter(pipeline(texts, batch_size=3, image_size=(8, 8))))  # image_size is ignored for texts
    assert x.dtype.name == "string" and x.shape == (3,) and y.dtype.name == "int64"
    assert next(iter(pipeline(texts, augment=False, with_targets=False))).shape == (3,)
    with pytest.raises(ValueError, match="augmentation applies to images only"):
        pipeline(texts, augment=True)
    with pytest.raises(ValueError, match="augmentation applies to images only"):
        pipeline(texts, augment=["flip"])
    images = load_dataset((np.arange(2).reshape(2, 1, 1, 1) * np.ones((1, 6, 6, 3), np.uint8), [0, 1]))
    pixels, _ = next(iter(pipeline(images, image_size=(4, 5), augment="flip")))
    assert pixels.dtype.name == "float32" and pixels.shape == (2, 4, 5, 3)
    with pytest.raises(ValueError, match="image_size=\\(height, width\\) is required"):
        pipeline(images)


# ---------------------------------------------------------------- the demo dataset


def test_topics_dataset_loads_and_splits():
    path = topics_path()
    assert path.name == "topics.csv" and path.is_file()
    ds = load_dataset(path)
    assert len(ds) == 400 and ds.modality == "text"
    assert ds.class_names == ("cooking", "sports", "technology", "weather")
    assert np.bincount(ds.targets).tolist() == [100, 100, 100, 100]
    assert len(set(ds.texts)) == 400
    assert all(8 <= len(text.split()) <= 30 for text in ds.texts)
    assert ds.targets[:12].tolist() != sorted(ds.targets[:12].tolist())  # shuffled, not grouped by class
    train, val = split(ds, val_fraction=0.2, seed=0)
    assert np.bincount(val.targets).tolist() == [20, 20, 20, 20]
    assert np.bincount(train.targets).tolist() == [80, 80, 80, 80]
    assert not set(train.texts) & set(val.texts)
