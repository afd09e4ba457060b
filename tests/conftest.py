"""Fixtures of the test suite; the registry isolation both tests and doctests need is in ../conftest.py."""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import zoo.interrupts
import zoo.plugins
import zoo.testing

# Reference data and the scripts that make it (they need packages the tests do not): nothing to collect.
collect_ignore = ["fixtures", "corpus"]  # corpus: the generator of test_corpus.py


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """Install a plugin *distribution* on sys.path: dist-info with a real ``backbone_zoo`` entry point.

    ``install_plugin("dist-name", "module source")`` returns the module name; discovery goes
    through importlib.metadata exactly as for a pip-installed package.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    created = []

    def install(dist: str, source: str, version: str = "1.0", requires: tuple[str, ...] = ()) -> str:
        module = f"{dist.replace('-', '_')}_plugin"
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        requirements = "".join(f"Requires-Dist: {r}\n" for r in requires)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n{requirements}")
        (info / "entry_points.txt").write_text(f"[backbone_zoo]\n{module} = {module}\n")
        created.append(module)
        return module

    yield install
    for module in created:
        sys.modules.pop(module, None)


TINY_PLUGIN = """
import zoo

def build(spec, *, weights, input_shape):
    import keras
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Conv2D(8, 3, strides=4)(inputs))

@zoo.hookimpl
def register_backbones():
    return [zoo.BackboneSpec(name={name!r}, family="tiny", input_shape=(32, 32, 3), feature_dim=8,
                             feature_shape=(8, 8, 8), preprocessing=zoo.Preprocessing.tf(), factory=build,
                             description={description!r})]
"""


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory):
    """zoo.testing's ``tiny_text`` backbone, installed for the rest of the module as a plugin (an entry point), so
    that the registry each test reloads, module fixtures and in-process ``zoo`` commands find it. Returns its name."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(zoo.testing.write_tiny_text_plugin(tmp_path_factory.mktemp("tiny-text"))))
        zoo.plugins.reset()
        yield zoo.testing.TINY_TEXT
    zoo.plugins.reset()


@pytest.fixture
def foreground_signals():
    """Python's own SIGINT and SIGTERM handlers, as in a foreground shell, whatever started the tests: a background
    job of a shell without job control (`make test &` in a script) starts with SIGINT ignored, and the zoo keeps it
    so (nohup's choice), so a test that sends itself Ctrl-C needs them."""
    before = {signum: signal.getsignal(signum) for signum in zoo.interrupts.SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


@pytest.fixture
def tiny_plugin_source():
    """Source of a valid plugin module registering one small backbone named (and described) as given."""
    return lambda name="tiny_net", description="": TINY_PLUGIN.format(name=name, description=description)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (a full disk for the ``full_disk`` tests), unmounted afterwards; skips where none can be mounted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def pytest_terminal_summary(terminalreporter):
    """Say whether the tests on a full disk ran: they need a tmpfs mount, and skip where they cannot have one."""
    reports = [r for outcome in ("passed", "failed", "skipped") for r in terminalreporter.stats.get(outcome, [])]
    ran = [r for r in reports if "full_disk" in r.keywords and r.when == "call"]
    skipped = [r for r in reports if "full_disk" in r.keywords and r.skipped and r.when == "setup"]
    if ran or skipped:
        why = f", {len(skipped)} skipped: {skipped[0].longrepr[2]}" if skipped else ""
        terminalreporter.write_line(f"full-disk tests: {len(ran)} ran on a 1 MB tmpfs{why}")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
