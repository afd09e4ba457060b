"""What the tests (tests/) and the doctests of the core (zoo/) share: a quiet TensorFlow and a registry
made of the installed plugins only, whatever the environment of the person running them."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

import zoo.plugins


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
