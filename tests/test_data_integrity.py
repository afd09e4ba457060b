"""Issue 12, items 1 and 2: no silent wrong results from duplicated content or misparsed delimited text."""

import os

import numpy as np
import pytest
from PIL import Image

from zoo.data import Dataset, load_dataset, split
from zoo.errors import DataError, DataWarning


def png(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (value, value, value)).save(path)
    return path


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def images(root, n):
    """``n`` distinct images, half ``cat`` and half ``dog``, as ``(file name, label)`` rows."""
    rows = [(f"{i}.png", "cat" if i % 2 else "dog") for i in range(n)]
    for i, (name, _) in enumerate(rows):
        png(root / name, i)
    return rows


def no_leak(train, val):
    assert not set(train.digests) & set(val.digests)
    assert len(set(train.digests)) == len(train) and len(set(val.digests)) == len(val)


# ---------------------------------------------------------------- item 1: duplicates


def test_a_manifest_listing_files_twice_leaks_nothing(tmp_path):
    rows = images(tmp_path, 20)
    manifest = write(tmp_path / "m.csv", "path,label\n" + "".join(f"{p},{y}\n" for p, y in rows * 2))
    with pytest.warns(DataWarning, match="20 of 40 examples of manifest .* repeat the content"):
        ds = load_dataset(manifest)
    assert len(ds) == 40  # load_dataset keeps every row: extract and predict give one output per input
    for seed in range(5):
        train, val = split(ds, 0.5, seed=seed)
        no_leak(train, val)
        assert (len(train), len(val)) == (10, 10)  # each content once: 20 distinct images
        assert np.bincount(val.targets).tolist() == [5, 5]  # still stratified
    assert split(ds, 0.5, seed=1)[1].digests == split(ds, 0.5, seed=1)[1].digests


def test_a_file_under_two_labels_is_refused_naming_the_rows(tmp_path):
    rows = images(tmp_path, 4)
    text = "path,label\n" + "".join(f"{p},{y}\n" for p, y in rows) + "0.png,cat\n"
    with pytest.raises(DataError, match=r"0.png \(line 2\) 'dog' and .*0.png \(line 6\) 'cat'; give each file") as err:
        load_dataset(write(tmp_path / "m.csv", text))
    assert "\n" not in str(err.value)


def test_two_copies_of_a_file_in_two_classes_are_refused(tmp_path):
    png(tmp_path / "d" / "cat" / "a.png", 1), png(tmp_path / "d" / "dog" / "b.png", 2)
    png(tmp_path / "d" / "dog" / "copy.png", 1)
    with pytest.raises(DataError, match="cat/a.png 'cat' and .*dog/copy.png 'dog'"):
        load_dataset(tmp_path / "d")


def test_a_symlinked_class_folder_is_refused_and_a_symlinked_file_counted(tmp_path):
    root = tmp_path / "d"
    png(root / "cat" / "a.png", 1), png(root / "cat" / "b.png", 2), png(root / "dog" / "c.png", 3)
    os.symlink(root / "cat" / "a.png", root / "cat" / "again.png")
    with pytest.warns(DataWarning, match=r"1 of 4 examples .*cat/again.png = .*cat/a.png"):
        ds = load_dataset(root)
    train, val = split(ds, 0.5)
    no_leak(train, val)
    os.symlink(root / "dog", root / "puppy")
    with pytest.raises(DataError, match="dog/c.png 'dog' and .*puppy/c.png 'puppy'"):
        load_dataset(root)


def test_multilabel_and_regression_conflicts(tmp_path):
    images(tmp_path, 4)
    same = write(tmp_path / "ml.csv", "path,label\n0.png,a;b\n1.png,a\n0.png,b|a\n2.png,b\n")
    with pytest.warns(DataWarning, match="1 of 4 examples"):
        load_dataset(same, task="multilabel")
    differ = write(tmp_path / "ml2.csv", "path,label\n0.png,a;b\n1.png,a\n0.png,a\n2.png,b\n")
    with pytest.raises(DataError, match="different targets .*'a; b' and .*'a'"):
        load_dataset(differ, task="multilabel")
    numbers = write(tmp_path / "r.csv", "path,label\n0.png,0.5\n1.png,1\n0.png,0.25\n")
    with pytest.raises(DataError, match=r"different targets .*\[0.5\] and .*\[0.25\]"):
        load_dataset(numbers, task="regression")


def test_texts_same_text_is_one_example(tmp_path):
    rows = "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(10))
    table = write(tmp_path / "t.csv", "text,label\n" + rows + rows)
    with pytest.warns(DataWarning, match=r"10 of 20 examples .*line 12 = line 2"):
        ds = load_dataset(table)
    no_leak(*split(ds, 0.3))
    with pytest.raises(DataError, match="line 2 'a' and line 4 'b'"):
        load_dataset(write(tmp_path / "bad.csv", "text,label\nHail!,a\nGoal,b\nHail!,b\n"))
    with pytest.raises(DataError, match="item 0 'a' and item 2 'b'"):
        load_dataset((["Hail!", "Goal", "Hail!"], ["a", "b", "b"]))


def test_arrays_same_pixels_are_one_example():
    x = np.arange(6 * 48).reshape(6, 4, 4, 3) % 251
    x[5] = x[0]
    with pytest.warns(DataWarning, match="1 of 6 examples of arrays .*: item 5 = item 0"):
        ds = load_dataset((x, [0, 1, 0, 1, 0, 0]))
    train, val = split(ds, 0.4)
    no_leak(train, val)
    assert len(train) + len(val) == 5
    with pytest.raises(DataError, match="item 0 '0' and item 5 '1'"):
        load_dataset((x, [0, 1, 0, 1, 0, 1]))


def test_split_groups_a_dataset_built_by_hand():
    digests = ("a", "b", "a", "c", "d", "a", "e", "f")
    ds = Dataset("classification", [0, 1, 0, 1, 0, 0, 1, 0], ("x", "y"), digests, texts=digests)
    for seed in range(10):
        no_leak(*split(ds, 0.5, seed=seed))
    with pytest.raises(DataError, match="example 0 'x' and example 2 'y'"):
        split(Dataset("classification", [0, 1, 1], ("x", "y"), ("a", "b", "a"), texts=("1", "2", "1")))
    with pytest.raises(DataError, match="too small to split: no class has two distinct examples"):
        split(Dataset("classification", [0, 0, 1], ("x", "y"), ("a", "a", "b"), texts=("1", "1", "2")))


def test_split_without_duplicates_is_unchanged():
    """Runs split again when they resume: with distinct contents, the split must be what it always was."""
    y = np.repeat([0, 1, 2], [10, 20, 2])
    ds = Dataset("classification", y, ("a", "b", "c"), tuple(str(i) for i in range(32)), texts=tuple("x" * 32))
    rng = np.random.default_rng(1)  # the split before content grouping, written out
    old = [i for c in range(3) for i in rng.permutation(np.flatnonzero(y == c))[: [2, 4, 1][c]]]
    assert sorted(split(ds, 0.2, seed=1)[1].digests) == sorted(str(i) for i in old)


# ---------------------------------------------------------------- item 2: delimited text


def bogus_rows(separator):
    """20 texts of two classes, every other one with an unquoted ``separator`` inside."""
    return "".join(f"word {i}{separator if i % 2 else ''} more {i}{separator}{'ab'[i % 2]}\n" for i in range(20))


def test_an_unquoted_tab_in_a_tsv_is_an_error_naming_the_line(tmp_path):
    path = write(tmp_path / "t.tsv", "text\tlabel\n" + bogus_rows("\t"))
    with pytest.raises(
        DataError, match=r"t.tsv: 10 line\(s\) .* header \(line 3 \(3\), .*; put fields that contain a tab in double"
    ):
        load_dataset(path)


def test_an_unquoted_comma_in_a_csv_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"t.csv: 10 line\(s\) .*line 3 \(3\).* contain a comma"):
        load_dataset(write(tmp_path / "t.csv", "text,label\n" + bogus_rows(",")))
    images(tmp_path, 2)
    with pytest.raises(DataError, match=r"m.csv: 1 line\(s\) .*line 3 \(3\)"):
        load_dataset(write(tmp_path / "m.csv", "path,label\n0.png,dog\n1.png,cat,extra\n"))


def test_a_row_with_too_few_fields_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"line 3 \(1\)"):
        load_dataset(write(tmp_path / "t.csv", "text,label\nGoal,a\nno label here\nRain,b\n"))


def test_quoted_fields_blank_lines_and_trailing_separators_are_fine(tmp_path):
    text = 'text,label,\n"Hail, then rain",a,\n\nGoal,b,,\n"tab\tinside",a\n'
    ds = load_dataset(write(tmp_path / "t.csv", text))
    assert ds.texts == ("Hail, then rain", "Goal", "tab\tinside") and ds.targets.tolist() == [0, 1, 0]


def test_implausibly_many_labels_warn(tmp_path):
    rows = "".join(f'"text {i}, quoted",id{i}\n' for i in range(20))
    with pytest.warns(DataWarning, match="20 distinct labels in 20 rows of text file .*check label_column"):
        load_dataset(write(tmp_path / "t.csv", "text,label\n" + rows))
    lines = "".join(f'{{"text": "t{i}", "label": "l{i % 11}"}}\n' for i in range(20))
    with pytest.warns(DataWarning, match="11 distinct labels in 20 rows") as said:
        load_dataset(write(tmp_path / "t.jsonl", lines))
    assert "regression" not in str(said[0].message)
    values = "".join(f"t{i},{i / 7:.4f}\n" for i in range(20))  # numbers: meant as a value to predict, likely
    with pytest.warns(DataWarning, match="every one is a number: .* train with task regression \\(--task regression"):
        load_dataset(write(tmp_path / "values.csv", "text,label\n" + values))


@pytest.mark.filterwarnings("error::zoo.errors.DataWarning")
def test_plausible_labels_do_not_warn(tmp_path):
    load_dataset(write(tmp_path / "few.csv", "text,label\n" + "".join(f"t{i},l{i}\n" for i in range(19))))
    load_dataset(write(tmp_path / "half.csv", "text,label\n" + "".join(f"t{i},l{i % 10}\n" for i in range(20))))
    names = [f"l{i}" for i in range(20)]
    load_dataset(
        write(tmp_path / "known.csv", "text,label\n" + "".join(f"t{i},l{i}\n" for i in range(20))), class_names=names
    )


def test_examples_in_nested_sub_folders_are_counted_for_their_class_and_said(tmp_path):
    for label, shade in (("a", 10), ("b", 200)):
        (tmp_path / label / "more").mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), shade + i, np.uint8)).save(tmp_path / label / f"{i}.png")
    Image.fromarray(np.full((8, 8, 3), 99, np.uint8)).save(tmp_path / "a" / "more" / "x.png")
    with pytest.warns(DataWarning, match=r"1 in sub-folders of 'a'; they count as examples of the class folder"):
        dataset = load_dataset(tmp_path)
    assert len(dataset) == 7 and dataset.class_names == ("a", "b")
