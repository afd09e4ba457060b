"""Backend-agnostic extraction: the same zoo code on JAX, in an environment without TensorFlow.

`make test` builds that environment (.venv-jax: keras, jax, no TensorFlow) and points
ZOO_JAX_PYTHON at it.
"""

import json
import os
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from zoo.demo import write_scenes

JAX_PYTHON = os.environ.get("ZOO_JAX_PYTHON")
pytestmark = pytest.mark.skipif(
    not JAX_PYTHON, reason="set ZOO_JAX_PYTHON to a Python with keras and jax but no TensorFlow (`make test` does)"
)
ROOT = Path(__file__).resolve().parent.parent
# XLA's code generation without LLVM's costly optimisations: compiling is most of these small programs' time.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def run_jax(code, *args, env=None):
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": FAST_COMPILE, **(env or {})}
    result = subprocess.run([JAX_PYTHON, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_extraction_on_jax_matches_tensorflow_without_importing_it(tmp_path):
    reference = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    reference.save_weights(tmp_path / "mobilenet_v2.weights.h5")
    pixels = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "pixels.npy", pixels)
    expected = zoo.extract("mobilenet_v2", pixels, weights=tmp_path / "mobilenet_v2.weights.h5", verbose=0)

    folder = write_scenes(tmp_path / "scenes", per_class=2, size=32, seed=0)
    # Arrays extract without TensorFlow; a folder, and training, need tf.data: one line and exit status 2, not a
    # traceback, whether called from Python or the command line.
    code = (
        "import contextlib, io, json, sys, numpy as np, keras, zoo\n"
        "from zoo.cli import main\n"
        "x = np.load(sys.argv[1])\n"
        "f = zoo.extract('mobilenet_v2', x, weights=sys.argv[2], batch_size=4, verbose=0)\n"
        "refusals = []\n"
        "for call in (lambda: zoo.extract('mobilenet_v2', sys.argv[3], weights=None, verbose=0),\n"
        "             lambda: zoo.train('mobilenet_v2', sys.argv[3], weights=None, epochs=1, verbose=0)):\n"
        "    try:\n"
        "        call()\n"
        "    except zoo.ConfigError as err:\n"
        "        refusals.append(str(err))\n"
        "err = io.StringIO()\n"
        "with contextlib.redirect_stderr(err):\n"
        "    status = main(['train', '--backbone', 'mobilenet_v2', '--data', sys.argv[3], '--weights', 'none'])\n"
        "print(json.dumps({'backend': keras.backend.backend(), 'tf': 'tensorflow' in sys.modules,"
        " 'features': f.tolist(), 'refusals': refusals, 'cli': [status, err.getvalue()]}))\n"
    )
    weights = str(tmp_path / "mobilenet_v2.weights.h5")
    out = json.loads(run_jax(code, str(tmp_path / "pixels.npy"), weights, str(folder)).strip().splitlines()[-1])
    assert out["backend"] == "jax" and out["tf"] is False
    scale = np.abs(expected).max()
    np.testing.assert_allclose(np.array(out["features"]), expected, atol=1e-4 * scale)
    needs = "reads data with tf.data, which needs TensorFlow whatever the Keras backend: pip install tensorflow"
    assert len(out["refusals"]) == 2 and all(needs in refusal for refusal in out["refusals"]), out["refusals"]
    status, said = out["cli"]
    assert status == 2 and said == f"zoo: error: training {needs}\n", said


@pytest.mark.slow
def test_gpu_benchmark_script_runs_on_the_cpu_with_jax():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['gpu.py', '--images', '8', '--batch-size', '4', '--size', '32',"
        " '--models', 'mobilenet_v3_small', '--policies', 'float32', 'mixed_bfloat16']\n"
        "runpy.run_path('benchmarks/gpu.py', run_name='__main__')\n"
    )
    out = run_jax(code)
    assert "backend jax" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("mobilenet_v3_small")]
    assert [row[1] for row in rows] == ["float32", "mixed_bfloat16"]
    assert all(float(row[2]) > 0 and float(row[3]) > 0 for row in rows)


@pytest.mark.slow
def test_data_parallel_extraction_on_two_jax_devices_gives_the_same_features():
    code = (
        "import json, numpy as np, keras, jax, zoo, zoo.distribute, zoo.testing\n"
        "zoo.testing.register_plugin(zoo.testing, keep_installed=True)\n"
        "x = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)\n"
        "keras.utils.set_random_seed(0)\n"
        "one = zoo.extract('tiny_image', x, weights=None, batch_size=4, verbose=0)\n"
        "with zoo.distribute.resolve('mirrored').scope():\n"
        "    keras.utils.set_random_seed(0)\n"
        "    model = zoo.backbone('tiny_image', weights=None)\n"
        "    placed = str(model.weights[0].value.sharding)\n"
        "    two = zoo.extract(model, x, batch_size=4, verbose=0)\n"
        "result = {'devices': len(jax.devices()), 'placed': placed, 'one': one.tolist(), 'two': two.tolist()}\n"
        "print(json.dumps(result))\n"
    )
    env_flags = {"XLA_FLAGS": f"{FAST_COMPILE} --xla_force_host_platform_device_count=2"}
    out = json.loads(run_jax(code, env=env_flags).strip().splitlines()[-1])
    assert out["devices"] == 2 and "'batch': 2" in out["placed"]  # the weights live on a 2-device mesh
    one, two = np.array(out["one"]), np.array(out["two"])
    assert np.abs(one).max() > 1e-3
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6)
