"""MkDocs hook: the Backbones page, generated from ``registry.json`` at build time (never committed).

One table per plugin and family: name, modality, input, parameters, weights, and the pyramid levels
of backbones that declare them. Reads the JSON only: building the docs imports neither the zoo nor
TensorFlow.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from mkdocs.structure.files import File, Files

PAGE = "backbones.md"
REGISTRY = Path(__file__).resolve().parents[2] / "registry.json"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _input(entry: dict) -> str:
    if entry["modality"] == "text":
        length = (entry.get("preprocessing") or {}).get("sequence_length")
        return f"text, {length} tokens" if length else "text"
    return "x".join(str(side) for side in entry["input_shape"])


def _params(count: int | None) -> str:
    if not count:
        return "unknown"
    return f"{count / 1e6:.1f} M" if count >= 1e5 else f"{count / 1e3:.1f} k"


def _weights(entry: dict) -> str:
    tags = [variant["tag"] for variant in entry.get("weights") or []]
    return ", ".join(f"`{tag}`" for tag in tags) if tags else "none (random init only)"


def render(registry: dict) -> str:
    """The page's Markdown: one section per plugin, one table per family in it.

    >>> tiny = {"name": "tiny", "family": "demo", "plugin": "mine", "modality": "image", "input_shape": [32, 32, 3],
    ...         "params": 8000, "weights": [], "pyramid": {"P2": "block1", "P3": "block2"}}
    >>> render({"count": 1, "backbones": [tiny]}).splitlines()[-1]
    '| `tiny` | image | 32x32x3 | 8.0 k | none (random init only) | P2, P3 |'
    """
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for entry in registry["backbones"]:
        groups[entry["plugin"]][entry["family"]].append(entry)
    with_pyramid = any(entry.get("pyramid") for entry in registry["backbones"])
    lines = [
        "# Backbones",
        "",
        f"The {registry['count']} backbones of the first-party plugins, from `registry.json` "
        "(written by `zoo registry --write`). `zoo list` shows what is installed on your machine, "
        "your own `backbones.toml` entries included; `zoo info NAME` shows one backbone in full.",
        "",
        "Input is the declared size (`zoo.backbone(name, input_shape=...)` changes it); params counts "
        "the backbone without its classification top; weights are the tags `weights=` accepts, the "
        "first one the default.",
    ]
    if with_pyramid:
        lines[-1] += (
            ' Pyramid lists the levels `zoo.backbone(name, features="pyramid")` returns '
            "(`Pn` is the feature map at stride 2<sup>n</sup>)."
        )
    for plugin in sorted(groups):
        families = groups[plugin]
        count = sum(len(entries) for entries in families.values())
        lines += [
            "",
            f"## {plugin}",
            "",
            f"{count} backbones in {len(families)} {'family' if len(families) == 1 else 'families'}.",
        ]
        for family in sorted(families):
            entries = sorted(families[family], key=lambda entry: entry["name"])
            pyramid = any(entry.get("pyramid") for entry in entries)
            header = ["name", "modality", "input", "params", "weights"] + (["pyramid"] if pyramid else [])
            lines += ["", f"### {family}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
            for entry in entries:
                row = [
                    f"`{entry['name']}`",
                    entry["modality"],
                    _input(entry),
                    _params(entry.get("params")),
                    _weights(entry),
                ]
                if pyramid:
                    row.append(", ".join(entry.get("pyramid") or {}) or "-")
                lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def on_files(files: Files, config) -> Files:
    """Add the generated page to the site (MkDocs >= 1.6)."""
    registry = json.loads(REGISTRY.read_text(encoding="utf-8"))
    files.append(File.generated(config, PAGE, content=render(registry)))
    return files
