"""The ``zoo`` command. Listing commands import no TensorFlow or Keras and take ``--json``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from zoo import catalogue
from zoo.errors import ZooError
from zoo.plugins import get_spec, list_backbones, registry
from zoo.spec import MODALITIES, BackboneSpec


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zoo`` command; returns the exit status.

    >>> main(["list", "vgg*", "--json"])  # doctest: +ELLIPSIS
    [...
    0
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    args = _parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except ZooError as err:
        print(f"zoo: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `zoo list | head`: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="Pretrained backbones as plugins, for transfer learning.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("list", help="list installed backbones")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern on names and aliases, e.g. 'resnet*'")
    p.add_argument("--modality", choices=MODALITIES)
    p.add_argument("--json", action="store_true", help="print the specs as JSON")
    p.set_defaults(run=_list)

    p = commands.add_parser("info", help="show everything a backbone declares")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_info)

    p = commands.add_parser("plugins", help="show plugins, their versions, backbones and errors")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_plugins)

    p = commands.add_parser("registry", help="write or check registry.json (first-party backbones)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    mode.add_argument("--write", action="store_true")
    p.add_argument("--file", default="registry.json")
    p.set_defaults(run=_registry)

    p = commands.add_parser("demo", help="the embedded end-to-end example (no network, no data)")
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--out", default="runs/demo", help="where to write the sample image and features")
    p.set_defaults(run=_demo)
    return parser


def _list(args: argparse.Namespace) -> None:
    specs = list_backbones(args.pattern, args.modality)
    if args.json:
        _print_json([s.to_dict() for s in specs])
        return
    rows = [
        (s.name, s.family, s.modality, "x".join(map(str, s.input_shape)), s.feature_dim, _millions(s.params), s.plugin)
        for s in specs
    ]
    _print_table(("NAME", "FAMILY", "MODALITY", "INPUT", "FEATURES", "PARAMS", "PLUGIN"), rows)
    print(f"{len(specs)} backbones")


def _info(args: argparse.Namespace) -> None:
    spec = get_spec(args.name)
    if args.json:
        _print_json(spec.to_dict())
        return
    for key, value in _describe(spec):
        print(f"{key + ':':<16}{value}")


def _describe(spec: BackboneSpec) -> list[tuple[str, Any]]:
    weights = [
        f"{w.tag}{' (default)' if w.tag == spec.default_weights else ''}: {w.source}; licence {w.license or 'unknown'}"
        for w in spec.weights
    ] or ["none declared: use weights=None or a local path"]
    lines = [
        ("name", spec.name),
        ("aliases", ", ".join(spec.aliases) or "-"),
        ("family", spec.family),
        ("modality", spec.modality),
        ("plugin", spec.plugin),
        ("input shape", f"{list(spec.input_shape)} (at least {spec.min_input_size} per side)"),
        ("preprocessing", spec.preprocessing.describe()),
        ("interpolation", spec.preprocessing.interpolation),
        ("features", f"{spec.feature_dim} pooled, feature map {list(spec.feature_shape)}"),
        ("parameters", f"{spec.params:,}" if spec.params else "unknown"),
        ("weights", weights[0]),
        *(("", w) for w in weights[1:]),
        ("reference", spec.reference or "-"),
    ]
    return [*lines, ("description", spec.description)] if spec.description else lines


def _plugins(args: argparse.Namespace) -> None:
    reg = registry()
    if args.json:
        _print_json({"plugins": [p.to_dict() for p in reg.plugins], "conflicts": reg.conflicts})
        return
    rows = [(p.name, p.version or "-", p.status, len(p.backbones), p.error or "") for p in reg.plugins]
    _print_table(("PLUGIN", "VERSION", "STATUS", "BACKBONES", "ERROR"), rows)
    for conflict in reg.conflicts:
        print(f"error: {conflict}")


def _registry(args: argparse.Namespace) -> int:
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


def _demo(args: argparse.Namespace) -> None:
    from zoo.demo import run_demo

    run_demo(args.backbone, args.out)


def _millions(params: int | None) -> str:
    return "-" if params is None else f"{params / 1e6:.1f}M"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    raise SystemExit(main())
