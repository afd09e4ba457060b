"""What the tests (tests/) and the doctests of the core (zoo/) share: a quiet TensorFlow, a registry made of
the installed plugins and the tiny test backbones only, whatever the environment of the person running them;
and, for the doctests, a folder holding the files their examples name."""

import os
import shutil
from collections import Counter

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker a core (-n auto): one compute thread each, children too
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

import zoo.plugins
import zoo.testing


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch, tmp_path_factory):
    """Each test starts from the installed plugins: no allowlist, strict mode or user config from outside."""
    monkeypatch.delenv(zoo.plugins.ENV_ALLOW, raising=False)
    monkeypatch.delenv(zoo.plugins.ENV_STRICT, raising=False)
    empty = tmp_path_factory.getbasetemp() / "no-user-config" / "backbones.toml"  # an empty user config
    empty.parent.mkdir(exist_ok=True)
    empty.touch()
    monkeypatch.setenv("ZOO_CONFIG", str(empty))
    zoo.plugins.reset()
    yield
    zoo.plugins.reset()


@pytest.fixture(scope="session", autouse=True)
def tiny_backbones(tmp_path_factory):
    """Install zoo.testing's tiny backbones for the session, as a plugin found through its entry point.

    The distribution record goes on ``sys.path`` for this process and on ``PYTHONPATH`` for a ``zoo``
    subprocess: both find ``tiny_image`` and ``tiny_image_caffe`` as they find any installed plugin.
    Outside the tests they do not exist.
    """
    site = str(zoo.testing.write_tiny_plugin(tmp_path_factory.mktemp("tiny-plugin")))
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(site)
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p))
        zoo.plugins.reset()
        yield site
    zoo.plugins.reset()


FILES_NAMED = ("data/", "runs/", "beach.png")  # by the examples that need doctest_files


@pytest.fixture(scope="session")
def doctest_files(tmp_path_factory):
    """What the API's examples name: ``data/train``, ``data/more``, ``data/test`` (scene images, 32x32),
    ``beach.png``, and ``runs/demo/run``: a run of ``tiny_image`` trained on ``data/train``."""
    from zoo.demo import write_scenes

    root = tmp_path_factory.mktemp("doctest-files")
    for split, seed in (("train", 0), ("more", 1), ("test", 2)):
        write_scenes(root / "data" / split, per_class=8, size=32, seed=seed)
    shutil.copy(next((root / "data" / "test" / "beach").iterdir()), root / "beach.png")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        zoo.train("tiny_image", "data/train", weights=None, epochs=12, learning_rate=0.1, out="runs/demo/run",
                  cache_dir="cache", verbose=0)  # fmt: skip
    return root


@pytest.fixture(autouse=True)
def _doctest_folder(request, monkeypatch, tmp_path):
    """A doctest runs in a folder of its own, with a copy of :func:`doctest_files` where its examples name them."""
    if not isinstance(request.node, pytest.DoctestItem):
        return
    if any(name in example.source for example in request.node.dtest.examples for name in FILES_NAMED):
        shutil.copytree(request.getfixturevalue("doctest_files"), tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))


def pytest_collection_modifyitems(items):
    """The files with the most slow tests first (each file's tests together and in order, so a module's fixtures
    are made once), so that under ``-n auto`` the workers finish together instead of one running a long test
    alone at the end."""
    slow = Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.path])
