"""One handler per ``zoo`` command (``do_list``, ``do_train``, ...): each takes the parsed flags, runs the
command's checks before TensorFlow loads, does the work and prints its results on stdout (``--json``: JSON alone).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo import catalogue, console, escape
from zoo.backbones import pyramid_sizes
from zoo.cli.checks import check_evaluate, check_export, check_predict, check_rank, check_resume, check_train
from zoo.cli.tables import print_json, print_table, print_wrapped, table_lines, terminal_width
from zoo.config import LR_FIND_OPTIONS, TUNE_OPTIONS, TrainConfig
from zoo.errors import ConfigError, DataError, ExportWarning
from zoo.files import check_can_make, check_writable
from zoo.plugins import get_spec, list_backbones, registry, select_backbones
from zoo.run.layout import check_not_a_run_file
from zoo.spec import BackboneSpec, level_stride


def do_list(args: argparse.Namespace) -> None:
    specs = list_backbones(args.pattern, args.modality)
    if args.json:
        print_json([s.to_dict() for s in specs])
        return
    if not specs:
        modality = f" {args.modality}" if args.modality else ""
        if args.pattern == "*":
            print(f"0{modality} backbones")
            return
        width = terminal_width()
        print_wrapped("", f"0{modality} backbones match {args.pattern!r}", width)
        close = registry().suggest(args.pattern)
        hint = f"did you mean: {', '.join(close)}? `zoo list` shows all" if close else "try `zoo list` for all of them"
        print_wrapped("", hint, width, indent=2)
        return
    rows = [
        (
            s.name,
            s.family,
            s.modality,
            "x".join(map(str, s.input_shape[:2])) or "text",  # height x width of RGB pixels
            s.feature_dim,
            _millions(s.params),
            _weights(s),
            s.plugin.removeprefix("backbone-zoo-"),  # type: ignore[union-attr]  # the first-party plugins' common prefix says nothing here
        )
        for s in specs
    ]
    print_table(
        ("NAME", "FAMILY", "MODALITY", "INPUT", "FEATURES", "PARAMS", "WEIGHTS", "PLUGIN"),
        rows,
        shrink={"WEIGHTS": 8, "PLUGIN": 10},
        drop=("MODALITY", "FAMILY", "PLUGIN"),  # the input says the modality, the name the family
        drop_to_fit=("FEATURES", "INPUT", "PARAMS"),  # the name and its weights stay
    )
    print(f"{len(specs)} backbone{'' if len(specs) == 1 else 's'}")


def _weights(spec: BackboneSpec) -> str:
    """The tag ``weights="default"`` loads, and how many others there are; or ``none``.

    A tag that is the backbone's own name (a keras-hub preset's) reads ``yes``: repeating the name tells nothing.
    """
    if not spec.default_weights:
        return "none"
    more = f" (+{len(spec.weights) - 1})" if len(spec.weights) > 1 else ""
    return f"{'yes' if spec.default_weights == spec.name else spec.default_weights}{more}"


def do_info(args: argparse.Namespace) -> None:
    spec = get_spec(args.name)
    if args.json:
        print_json(spec.to_dict())
        return
    width = terminal_width()
    for key, value in _describe(spec):
        print_wrapped(f"{key + ':':<16}" if key else " " * 16, str(value), width)


def _describe(spec: BackboneSpec) -> list[tuple[str, Any]]:
    weights = [
        f"{w.tag}{' (default)' if w.tag == spec.default_weights else ''}: {w.source}; licence {w.license or 'unknown'}"
        + (f"; found locally: {found}" if (found := registry().locate_weights(spec, w.tag)) else "")
        for w in spec.weights
    ] or ["none declared: use weights=None or a local path"]
    # the maps zoo.backbone(name, features="pyramid") gives at the declared input size
    pyramid = [
        f"{level} stride {level_stride(level)}, {height}x{width}: {spec.pyramid[level]}"
        for level, (height, width) in pyramid_sizes(spec).items()
    ] or ["-"]
    lines = [
        ("name", spec.name),
        ("aliases", ", ".join(spec.aliases) or "-"),
        ("family", spec.family),
        ("modality", spec.modality),
        ("plugin", spec.plugin),
        ("input", _input(spec)),
        ("preprocessing", spec.preprocessing.describe()),
        ("features", f"{spec.feature_dim} pooled, feature map {list(spec.feature_shape)}"),
        ("pyramid", pyramid[0]),
        *(("", level) for level in pyramid[1:]),
        ("parameters", f"{spec.params:,}" if spec.params else "unknown"),
        ("weights", weights[0]),
        *(("", w) for w in weights[1:]),
        ("reference", spec.reference or "-"),
    ]
    return [*lines, ("description", spec.description)] if spec.description else lines


def _input(spec: BackboneSpec) -> str:
    if spec.modality == "text":
        return "one string per example (tokenized inside the model)"
    interpolation = spec.preprocessing.interpolation  # type: ignore[union-attr]
    return f"{list(spec.input_shape)} RGB, at least {spec.min_input_size} per side, resized {interpolation}"


def do_plugins(args: argparse.Namespace) -> None:
    reg = registry()
    if args.json:
        print_json({"plugins": [p.to_dict() for p in reg.plugins], "conflicts": reg.conflicts})
        return
    width = terminal_width()
    rows = [(p.name, p.version or "-", p.status, _names(p.backbones)) for p in reg.plugins]
    lines = table_lines(("PLUGIN", "VERSION", "STATUS", "BACKBONES"), rows, width, shrink={"BACKBONES": 12})
    print(lines[0])
    for plugin, line in zip(reg.plugins, lines[1:], strict=True):
        print(line)
        note = f"error: {plugin.error}" if plugin.error else _conflicting(plugin)
        if note:  # in full, under its plugin
            print_wrapped("  ", note, width, indent=4)
    for conflict in reg.conflicts:
        print_wrapped("error: ", conflict, width, indent=2)


def _conflicting(plugin: Any) -> str:
    return f"conflicting: {', '.join(plugin.conflicts)} (left out, see below)" if plugin.conflicts else ""


def do_registry(args: argparse.Namespace) -> int:
    if args.write:
        count = catalogue.write(args.file)
        print(f"wrote {args.file} with {count} backbones")
        return 0
    stale = catalogue.check(args.file)
    if stale:
        print(
            f"{args.file} is stale ({', '.join(stale[:10])}{' ...' if len(stale) > 10 else ''}); "
            "run `zoo registry --write` and commit it",
            file=sys.stderr,
        )
        return 1
    print(f"{args.file} is in sync")
    return 0


def do_train(args: argparse.Namespace) -> int:
    if args.resume:
        check_resume(args)
        console.load_framework(lean=True)
        import zoo

        with console.results_only():
            run = zoo.resume(args.resume, distribution=args.distribution)  # e.g. a multi-worker run on one host
    else:
        config = check_train(args)  # every check that needs no TensorFlow comes first
        if config.distribution == "mirrored":  # oneDNN's CPU convolution mishandles an empty per-replica batch
            os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        console.load_framework(lean=True)
        import zoo

        with console.results_only():
            run = zoo.train(args.backbone, args.data, args.val, config, out=args.out)
    if not run.writes:
        print(f"this worker is done; the chief (process 0) writes {run.path}")
        return 0
    _print_skipped(run)
    for note in run.data_summary.notes():
        console.say(f"note: {note}")
    _print_summary(run.path, run.task, run.metrics)
    return 0


def _print_skipped(run: Any, shown: int = 10) -> None:
    """Name the inputs a run left out, on stderr: one line each, the first ``shown`` of them."""
    skipped = run.skipped
    if not skipped:
        return
    s = "" if len(skipped) == 1 else "s"
    console.say(f"note: {len(skipped)} skipped file{s} (unreadable; listed in {run.skipped_path}):")
    for item in skipped[:shown]:
        console.say(f"  {item['path']}: {item['reason']}")
    if len(skipped) > shown:
        console.say(f"  ... and {len(skipped) - shown} more")


def do_rank(args: argparse.Namespace) -> int:
    check_rank(args)
    if args.distribute == "mirrored":  # oneDNN's CPU convolution mishandles an empty per-replica batch
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    console.load_framework(lean=True)
    from zoo.ranking import rank, table_rows

    with console.results_only():  # progress on stderr: with --json, stdout is the JSON alone
        results = rank(
            args.data,
            args.backbones,
            sample=args.sample,
            task=args.task,
            weights=None if args.weights.lower() == "none" else args.weights,
            input_shape=args.input_size,
            folds=args.folds,
            distribution=args.distribute,
        )
    if args.json:
        print_json([r.to_dict() for r in results])
    else:
        console.say("")  # after the progress lines on stderr: stdout is the table alone
        print_table(("BACKBONE", "LOGME", "LINEAR PROBE", "FEATURES", "SCORING", "NOTES"), table_rows(results))
        best = next((r for r in results if r.error is None), None)
        print(f"recommended: {best.backbone} (highest LogME)" if best else "no backbone could be scored")
    return 0 if any(r.error is None for r in results) else 1


def _print_summary(path: Any, task: str, metrics: dict[str, Any]) -> None:
    from zoo.metrics import summary_rows

    console.say("")  # after the progress lines on stderr: stdout is the table alone
    print_table(("METRIC", "VALUE"), summary_rows(task, metrics))
    print(f"run directory: {path}")


def do_evaluate(args: argparse.Namespace) -> None:
    run = check_evaluate(args)
    console.load_framework(lean=True)
    from zoo.inference import evaluate

    with console.results_only():
        metrics = evaluate(run, args.data)
    if args.json:
        print_json(metrics)
    else:
        _print_summary(run.path, run.task, metrics)


def do_predict(args: argparse.Namespace) -> int:
    run = check_predict(args)
    console.load_framework(lean=True)
    from zoo.files import write_text
    from zoo.inference import predict, predictions_csv

    with console.results_only():
        results = predict(run, args.files, top_k=args.top_k)
    if args.out is not None:
        write_text(args.out, predictions_csv(results))
    if cut := sum(bool(r.get("truncated")) for r in results):
        console.say(
            f"note: {cut} of {len(results)} texts were cut at {run.input_shape[0]} tokens, the length {run.path} was "
            "trained with; a model trained with a larger --sequence-length reads more"
        )
    if args.json:
        print_json(results)
    else:
        for result in results:  # inputs and labels are data: their control characters are shown, not obeyed
            shown = escape.terminal(result["input"])
            if "error" in result:
                print(f"{shown}: error: {escape.terminal(result['error'])}")
            elif "values" in result:
                print(f"{shown}: {', '.join(f'{v:.4g}' for v in result['values'])}")
            else:
                best = ", ".join(f"{escape.terminal(p['label'])} {p['score']:.3f}" for p in result["predictions"])
                print(f"{shown}: {best}")
    failed = sum("error" in r for r in results)
    return 0 if not failed else 2 if failed == len(results) else 1  # as `zoo predict --help` says


def do_export(args: argparse.Namespace) -> int:
    run = check_export(args)
    from zoo.exports import export

    with warnings.catch_warnings(record=True) as caught, console.results_only():
        warnings.simplefilter("always")
        exported = export(run, args.format, out=args.out, quantize=args.quantize, calibration=args.calibration,
                          check=args.check)  # fmt: skip
    meta = exported.metadata
    kind = f"{args.format} ({args.quantize})" if args.quantize else args.format
    parity = meta.get("parity")
    if args.json:
        print_json(meta)
    else:
        size = _bytes(exported.size)
        if "size_ratio" in meta:
            size += f"; float32 {_bytes(meta['float32_bytes'])}: {meta['size_ratio']:.1f}x smaller"
        print(f"{kind}: {exported.artefact} ({size})")
        if parity:
            print(f"parity: {parity['verdict']}: {'ok' if parity['ok'] else 'MISSED'}")
        print(f"metadata: {exported.path / 'metadata.json'}")
    for warning in caught:  # the parity verdict (the ExportWarning) is said below
        if not issubclass(warning.category, ExportWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
    if not parity or parity["ok"]:
        return 0
    # A quantised model below its agreement target: kept, but a script must not ship it unawares (--json too).
    print(f"zoo: parity missed: {kind} export, {escape.terminal(parity['verdict'])}; the file is kept at "
          f"{escape.terminal(exported.artefact)} and metadata.json says so", file=sys.stderr)  # fmt: skip
    return 1


def _bytes(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    return f"{count / 1024:.1f} KB" if count < 1024**2 else f"{count / 1024**2:.1f} MB"


def do_lr_find(args: argparse.Namespace) -> None:
    """``zoo lr-find``: the sweep's suggestion (and the plot, or JSON), with the ``zoo train`` flag to use it."""
    get_spec(args.backbone)  # checked before TensorFlow loads; an unknown name suggests close ones
    if not os.path.exists(args.data):
        raise DataError(f"{args.data} does not exist: give labelled data, as for `zoo train`")
    options = config_options(args, LR_FIND_OPTIONS)
    if args.plot:  # a plot that cannot be written is said now, not as a warning after the sweep
        check_not_a_run_file(args.plot, "--plot")
        check_writable(Path(args.plot))
    console.load_framework(lean=True)
    from zoo.lr_finder import lr_find

    with console.results_only():
        found = lr_find(args.backbone, args.data, start=args.start, end=args.end, steps=args.steps, **options)
    drawn = found.plot(args.plot) if args.plot else None
    if args.json:
        print_json({**found.to_dict(), "plot": str(drawn) if drawn else None})
        return
    print(f"suggested learning rate: {found.suggestion:.2g} (the middle of the valley, where the loss keeps falling)")
    print(f"lowest loss at {found.minimum:.2g} (a tenth of it, {found.minimum / 10:.2g}, is the cautious choice)")
    if drawn:
        print(f"plot: {drawn}")
    print(f"train with it: {found.command}")


def do_tune(args: argparse.Namespace) -> int:
    """``zoo tune``: the trials table (or JSON), the best options and their ``zoo train`` command; with
    ``--train-best``, that run too."""
    select_backbones(args.backbones)  # checked before TensorFlow loads; an unknown name suggests close ones
    if not os.path.exists(args.data):
        raise DataError(f"{args.data} does not exist: give labelled data, as for `zoo train`")
    for flag, given in (("--out", args.out), ("--fine-tune", args.fine_tune)):
        if given is not None and not args.train_best:
            raise ConfigError(f"{flag} is for the best run (the trials train the head alone): add --train-best, or "
                              f"drop {flag}")  # fmt: skip
    if args.study and not args.storage and not args.mlflow:  # with --mlflow it names the study's MLflow run
        raise ConfigError("--study names a study kept in --storage: add --storage (e.g. sqlite:///study.db)")
    if args.out:
        from zoo.run import check_free

        check_can_make(check_free(args.out))  # as zoo.train checks it, before the trials rather than after them
    fixed = config_options(args, TUNE_OPTIONS, epochs=args.epochs, fine_tune=args.fine_tune)
    del fixed["epochs"], fixed["fine_tune"]  # tune() takes its epochs; fine-tuning is the best run's
    if args.trials < 1:
        raise ConfigError(f"--trials must be a positive integer, got {args.trials}")
    _require_optuna()
    console.load_framework(lean=True)
    from zoo.tuning import best_options, score_words, train_command, tune

    with console.results_only():
        found = tune(args.data, args.backbones, trials=args.trials, epochs=args.epochs, storage=args.storage,
                     study=args.study, **fixed)  # fmt: skip
    command, options = found.command, {}
    if args.train_best:  # the command the best run trains with: the search's, and the fine-tuning
        name, chosen = best_options(found.best["params"], [s.name for s in select_backbones(args.backbones)])
        options = {**fixed, **chosen, "epochs": args.epochs, "fine_tune": args.fine_tune}
        command = train_command(name, args.data, TrainConfig.from_options(options))
    if args.json:
        run = _train_best(name, args, options) if args.train_best else None
        print_json({**found.to_dict(), "command": command, "run": str(run.path) if run else None})
        return 0
    rows = [
        (
            t["number"],
            t["state"],
            _number(t["value"]),
            _number(t["val_accuracy"]),
            " ".join(f"{k}={_option_text(v)}" for k, v in t["params"].items()),
        )
        for t in found.trials
    ]
    print_table(("TRIAL", "STATE", "VAL LOSS", "VAL ACC", "OPTIONS"), rows, shrink={"OPTIONS": 20}, drop=("VAL ACC",))
    width = terminal_width()
    said = score_words(found.best["value"], found.best["params"].get("label_smoothing"))
    print_wrapped("best: ", f"trial {found.best['number']}, {said}", width)
    print(f"train it: {command}")  # one line, to paste; said before the best run, which may fail or be stopped
    if args.train_best:
        run = _train_best(name, args, options)
        _print_summary(run.path, run.task, run.metrics)
    return 0


def _train_best(backbone: str, args: argparse.Namespace, options: dict[str, Any]) -> Any:
    import zoo

    with console.results_only():
        return zoo.train(backbone, args.data, out=args.out, **options)


def _require_optuna() -> None:
    if not console.installed("optuna"):
        raise ConfigError("zoo tune needs Optuna: pip install 'backbone-zoo[tune]' (or pip install optuna)")


def config_options(args: argparse.Namespace, names: tuple[str, ...], **more: Any) -> dict[str, Any]:
    """The TrainConfig options the flags of ``names`` (and ``more``) give, checked as TrainConfig checks them, before
    TensorFlow loads: ``--weights none`` is ``None``, ``--input-size`` is ``input_shape``."""
    options = {name: getattr(args, "input_size" if name == "input_shape" else name) for name in names}
    if "weights" in options and str(options["weights"]).lower() == "none":
        options["weights"] = None
    TrainConfig.from_options({**options, **more})
    return {**options, **more}


def do_report(args: argparse.Namespace) -> None:
    """``zoo report``: the runs compared in one HTML file; its path printed."""
    from zoo.run import Run

    runs = [Run.finished(os.path.expanduser(path)) for path in args.runs]  # checked before TensorFlow loads
    if os.path.isdir(args.out):
        raise ConfigError(f"{args.out} is a folder: give the report's file name with --out (default: report.html)")
    if args.top_losses < 0:
        raise ConfigError(f"--top-losses must be 0 or more, got {args.top_losses}")
    console.load_framework(lean=True)
    from zoo.html_report import report

    with console.results_only():
        path = report(runs, args.out, top_losses=args.top_losses)
    print(f"report: {path}")


def do_serve(args: argparse.Namespace) -> None:
    """``zoo serve``: the run behind HTTP until SIGTERM or Ctrl-C; where it listens said once it does."""
    from zoo.exports.metadata import is_export
    from zoo.run import Run

    source = Path(os.path.expanduser(args.run_dir))
    if not is_export(source):
        Run.finished(source)  # checked before TensorFlow loads
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    if not 0 < args.max_request_mb < float("inf"):
        raise ConfigError(f"--max-request-mb must be positive, got {args.max_request_mb}")
    if args.max_batch < 1:
        raise ConfigError(f"--max-batch must be at least 1, got {args.max_batch}")
    if not 0 <= args.max_wait_ms < float("inf"):
        raise ConfigError(f"--max-wait-ms must be 0 or more milliseconds, got {args.max_wait_ms}")
    if not (console.installed("fastapi") and console.installed("uvicorn") and console.installed("multipart")):
        raise ConfigError("zoo serve needs FastAPI and uvicorn: pip install 'backbone-zoo[serve]'")
    from zoo.serving import check_options, serve

    limit = int(args.max_request_mb * 2**20)
    # before TensorFlow loads; serve() says "serving ... at URL" once it listens
    check_options(source, name=args.name, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                  max_request_bytes=limit)  # fmt: skip
    console.load_framework(lean=True)
    serve(source, host=args.host, port=args.port, name=args.name, max_batch=args.max_batch,
          max_wait_ms=args.max_wait_ms, max_request_bytes=limit)  # fmt: skip


def do_runs(args: argparse.Namespace) -> None:
    """``zoo runs``: the runs under a folder, filtered and sorted, as a table that fits the terminal or as JSON."""
    from zoo.run.listing import find_runs

    root = os.path.expanduser(args.root)
    runs = [
        run
        for run in find_runs(root)
        if (args.status is None or run.status == args.status)
        and (args.backbone is None or fnmatch.fnmatch(run.backbone, args.backbone))
    ]
    runs = _sorted_runs(runs, args.sort)
    if args.json:
        print_json([run.to_dict() for run in runs])
        return
    metric = "loss" if args.sort in ("updated", "name", "backbone") else args.sort  # the sort key's values shown
    rows = [
        (
            _tail(os.path.relpath(run.path, root), 24),  # a run is told apart by the end of its path
            run.backbone or "-",
            run.data or "-",
            _score(run.task, run.metrics),
            _number(run.metrics.get(metric)),
            " ".join(f"{k}={_option_text(v)}" for k, v in run.options.items()) or _unless_damaged(run, "defaults"),
            run.updated.strftime("%Y-%m-%d %H:%M") if run.updated else "-",
            run.shown_status,
        )
        for run in runs
    ]
    print_table(
        ("RUN", "BACKBONE", "DATA", "SCORE", metric.upper(), "OPTIONS", "UPDATED", "STATUS"),
        rows,
        shrink={"OPTIONS": 16, "RUN": 12, "BACKBONE": 10, "STATUS": 26},  # "stopped: phase 1, epoch 12" whole
        drop=tuple(name for name in ("DATA", metric.upper(), "UPDATED") if name != args.sort.upper()),  # sort key stays
        drop_to_fit=("OPTIONS",),
    )
    width = terminal_width()
    for run in runs:
        if run.status == "damaged":
            print_wrapped(f"damaged: {os.path.relpath(run.path, root)}: ", run.where, width, indent=2)
    print(f"{len(runs)} run{'' if len(runs) == 1 else 's'}")


_LOWER_IS_BETTER = ("loss", "mae", "rmse")
_HEADLINE = {"classification": ("acc", "accuracy"), "multilabel": ("F1", "macro_f1"), "regression": ("R2", "r2")}


def _sorted_runs(runs: list[Any], key: str) -> list[Any]:
    """``runs`` by ``key``: updated (as found: newest first), name, backbone, or a metric, best first (runs
    without it last); an unknown key is a :class:`ConfigError` naming the ones there are."""
    if key == "updated":
        return runs
    if key in ("name", "backbone"):
        return sorted(runs, key=lambda run: getattr(run, key))
    known = sorted({name for run in runs for name in run.metrics})
    if key not in known:
        choices = ", ".join(["updated", "name", "backbone", *known])
        raise ConfigError(f"--sort {key}: no run has that metric; sort by one of {choices}")
    sign = 1 if key in _LOWER_IS_BETTER else -1
    with_it = [run for run in runs if isinstance(run.metrics.get(key), (int, float))]
    return sorted(with_it, key=lambda run: sign * run.metrics[key]) + [run for run in runs if run not in with_it]


def _score(task: str, metrics: dict[str, Any]) -> str:
    """The task's headline metric: ``acc 0.9500``, ``F1 0.8000`` (multilabel, macro) or ``R2 0.9100``."""
    label, key = _HEADLINE.get(task, ("", ""))
    return f"{label} {metrics[key]:.4f}" if isinstance(metrics.get(key), (int, float)) else "-"


def _unless_damaged(run: Any, text: str) -> str:
    return "-" if run.status == "damaged" else text


def _tail(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "-"


def _option_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def do_demo(args: argparse.Namespace) -> None:
    console.load_framework(lean=True)
    from zoo.demo import run_demo

    run_demo(args.backbone, args.out)


def _names(names: Sequence[str], shown: int = 3) -> str:
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return f"{len(names)}: {', '.join(names[:shown])}{more}" if names else "0"


def _millions(params: int | None) -> str:
    return "-" if params is None else f"{params / 1e6:.1f}M"
