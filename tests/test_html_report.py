"""`zoo report`: runs of each kind (image folder, image manifest with hostile labels, text, in-memory arrays) compared
in one HTML file, which headless Chromium opens: no console error, no request leaves the file, every image loads, the
tables hold the runs' numbers, and labels with markup show as text.

`make test` installs Debian's Chromium and points ZOO_CHROMIUM at it; Playwright drives it.
"""

import csv
import re

import numpy as np
import pytest
from servers import CHROMIUM, NO_CHROMIUM, QUIET_CHROMIUM

import zoo
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.testing import TINY_IMAGE

HOSTILE = {"beach": '<img src=x onerror="alert(1)">', "forest": 'a "quoted" & <b>bold</b> label'}
TEXTS = {
    "weather": ["rain and wind by noon", "sunny skies all day", "snow falls tonight", "storm clouds gather",
                "fog in the valley", "a warm dry week"],
    "sport": ["the team won the match", "a goal in extra time", "the runner broke a record", "the final whistle",
              "a late penalty save", "the league title race"],
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_text):
    """Four finished runs: an image folder, a manifest whose labels hold markup, texts from a CSV, and arrays."""
    root = tmp_path_factory.mktemp("report")
    scenes = write_scenes(root / "scenes", per_class=4, size=32, seed=0)
    manifest = root / "hostile.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        for image in sorted(scenes.rglob("*.png")):
            writer.writerow([image, HOSTILE.get(image.parent.name, image.parent.name)])
    texts = root / "texts.csv"
    with texts.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([text, label] for label in TEXTS for text in TEXTS[label])
    pixels = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    options = dict(weights=None, verbose=0)
    return [
        zoo.train(TINY_IMAGE, scenes, out=root / "folder", epochs=2, **options),
        zoo.train(
            TINY_IMAGE, manifest, out=root / "hostile", epochs=3, learning_rate=0.05, optimizer="adamw", **options
        ),
        zoo.train(tiny_text, texts, out=root / "text", epochs=2, val_fraction=0.25, **options),
        zoo.train(TINY_IMAGE, (pixels, np.arange(16) % 2), out=root / "arrays", epochs=1, **options),
    ]


def open_in_chromium(path):
    """Open the file at ``path`` in headless Chromium: what the page shows and what happened while it loaded."""
    from playwright.sync_api import sync_playwright

    seen = {"errors": [], "requests": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_CHROMIUM)
        page = browser.new_page()
        page.on("console", lambda message: seen["errors"].append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        page.on("request", lambda request: seen["requests"].append(request.url))
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        seen["images"] = page.eval_on_selector_all("img", "all => all.map(i => [i.complete, i.naturalWidth])")
        seen["tables"] = page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('div[id] > table')].map(t => [t.parentNode.id,
                 [...t.rows].map(r => [...r.cells].map(c => c.innerText))]))"""
        )
        seen["bold"] = page.evaluate("() => document.querySelectorAll('b').length")
        seen["quotes"] = page.eval_on_selector_all("blockquote", "all => all.map(q => q.innerText)")
        seen["text"] = page.inner_text("body")
        browser.close()
    return seen


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM, reason=NO_CHROMIUM)
def test_the_report_renders_in_a_browser_with_the_runs_numbers_and_labels_shown_as_text(runs, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", *[str(run.path) for run in runs], "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"report: {out}\n"
    seen = open_in_chromium(out)

    assert seen["errors"] == []
    assert seen["requests"] == [out.resolve().as_uri()] + [u for u in seen["requests"][1:] if u.startswith("data:")]
    folder, hostile = runs[:2]
    thumbnails = len(folder.read_data()[1]) + len(hostile.read_data()[1])  # every validation image: fewer than 8
    assert len(seen["images"]) == 1 + thumbnails  # the curves, then each image run's top losses
    assert all(complete and width > 0 for complete, width in seen["images"])

    summary = {row[0]: dict(zip(seen["tables"]["summary"][0], row, strict=True)) for row in seen["tables"]["summary"]}
    for run in runs:
        shown = summary[run.path.name]
        assert shown["accuracy"] == f"{run.metrics['accuracy']:.4f}" and shown["loss"] == f"{run.metrics['loss']:.4f}"
        assert shown["epochs"] == str(len(run.history)) and shown["val size"] == str(run.metrics["n"])

    per_class = {row[0]: row for row in seen["tables"]["per-class"][1:]}
    header = seen["tables"]["per-class"][0]
    f1 = header.index("hostile: F1")
    for label, values in hostile.metrics["per_class"].items():  # the markup labels, as text, with their numbers
        assert per_class[label][f1] == f"{values['f1']:.4f}"
    assert set(HOSTILE.values()) <= set(per_class)
    assert seen["bold"] == 0  # no label's markup became an element

    configs = [run.train_config.to_dict() for run in runs]
    differ = {name for name in configs[0] if len({repr(c[name]) for c in configs}) > 1} | {"weight_decay"}
    options = [row[0] for row in seen["tables"]["options"][1:]]
    assert {"epochs", "learning_rate", "val_fraction"} <= differ and set(options[: len(differ)]) == differ  # first
    decay = next(row for row in seen["tables"]["options"] if row[0] == "weight_decay")
    assert decay[1 + runs.index(hostile)] == "0.004"  # AdamW's default as applied (and as the card says), not None
    assert set(seen["quotes"]) <= {t for texts in TEXTS.values() for t in texts} and seen["quotes"]
    assert "not shown: " in seen["text"] and "in-memory" in seen["text"]  # the arrays run has no examples to show


def test_report_refuses_what_is_not_a_finished_run_in_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


@pytest.mark.slow
def test_report_refuses_a_folder_or_an_unwritable_place_as_its_output_and_a_negative_count(runs, tmp_path, capsys):
    assert main(["report", str(runs[0].path), "--out", str(tmp_path)]) == 2
    assert "is a folder: give the report's file name" in capsys.readouterr().err
    assert main(["report", str(runs[0].path), "--top-losses", "-1"]) == 2
    assert "--top-losses must be 0 or more" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out, said in ((blocker / "r.html", f"{blocker} is a file, not a folder"), ("/proc/zoo.html", "no such file")):
        assert main(["report", str(runs[0].path), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"zoo: error: cannot write {out}: ") and said in err and err.count("\n") == 1, err
    model = runs[0].path / "model.keras"  # the report written over the run it reports on destroyed its model
    before = model.read_bytes()
    for name in ("model.keras", "metrics.json"):
        assert main(["report", str(runs[0].path), "--out", str(runs[0].path / name)]) == 2
        assert capsys.readouterr().err == (
            f"zoo: error: out {runs[0].path / name} is a file of the run "
            f"{runs[0].path}: writing it would damage the run; give another file\n"
        )
    assert model.read_bytes() == before and runs[0].metrics
    # one run given as its path: not a sequence of the path's characters ("r does not exist")
    assert "<h1>zoo report: 1 run</h1>" in zoo.report(str(runs[0].path), tmp_path / "one.html").read_text()


@pytest.mark.slow
def test_a_regression_run_is_reported_with_its_errors_and_no_classes(tmp_path):
    scenes = write_scenes(tmp_path / "scenes", per_class=3, size=32, seed=0)
    manifest = tmp_path / "values.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        writer.writerows((p, i % 5 / 4) for i, p in enumerate(sorted(scenes.rglob("*.png"))))
    run = zoo.train(TINY_IMAGE, manifest, out=tmp_path / "run", task="regression", epochs=1, weights=None, verbose=0)
    page = zoo.report([run], tmp_path / "report.html", top_losses=2).read_text()
    assert f'<td class="n">{run.metrics["mae"]:.6g}</td>' in page  # the summary's MAE, as zoo train prints it
    assert 'id="per-class"' not in page and "Confusion matrix" not in page  # no classes to show
    assert page.count('<figure class="example">') == 2
    assert len(re.findall(r"<figcaption>true: -?[\d.]+; predicted: -?[\d.]+; loss [\d.]+</figcaption>", page)) == 2


@pytest.mark.slow
def test_the_top_losses_of_a_run_whose_data_changed_are_not_shown_as_its_validation_examples(tmp_path):
    """Images added to the run's folder after it trained came out as its "validation examples it got most wrong"
    beside metrics.json's numbers; the run's data is now checked against what it trained on."""
    scenes = write_scenes(tmp_path / "scenes", per_class=4, size=32, seed=0)
    run = zoo.train(TINY_IMAGE, scenes, out=tmp_path / "run", weights=None, epochs=1, verbose=0)
    held_out = len(run.read_data()[1])
    assert zoo.report([run], tmp_path / "before.html").read_text().count('<figure class="example">') == held_out
    for image in sorted(write_scenes(tmp_path / "more", per_class=1, size=32, seed=5).rglob("*.png")):
        image.rename(scenes / image.parent.name / f"added-{image.name}")
    page = zoo.report([run], tmp_path / "after.html").read_text()
    assert '<figure class="example">' not in page and "added-" not in page
    assert f"not shown: the data of {run.path} changed since it trained" in page
    assert page.count(f'<td class="n">{run.metrics["accuracy"]:.4f}</td>') == 1  # the run's own numbers stay


def test_each_run_keeps_its_colour_in_both_learning_curve_panels(monkeypatch):
    """A run without the metric (regression among classifiers) shifted every later run's colour in the second panel,
    so that one colour stood for another run there."""
    from zoo import plots

    drawn = []

    def kept(**kwargs):
        figure = make(**kwargs)
        figure.clear = lambda: None  # the figure is cleared once saved: kept to be read here
        drawn.append(figure)
        return figure

    make = plots._figure
    monkeypatch.setattr(plots, "_figure", kept)
    histories = {
        "classifier": [{"val_loss": 1.0, "val_accuracy": 0.5}, {"val_loss": 0.8, "val_accuracy": 0.6}],
        "regression": [{"val_loss": 2.0}, {"val_loss": 1.5}],
        "text": [{"val_loss": 0.9, "val_accuracy": 0.7}, {"val_loss": 0.7, "val_accuracy": 0.8}],
    }
    plots.overlaid_curves_png(histories)
    loss, accuracy = drawn[0].axes
    colours = [{line.get_label(): line.get_color() for line in ax.get_lines()} for ax in (loss, accuracy)]
    assert set(colours[1]) == {"classifier", "text"}
    assert all(colours[0][run] == colour for run, colour in colours[1].items()), colours
    assert len(set(colours[0].values())) == 3
