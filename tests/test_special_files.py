"""Special files and decompression bombs: the scan reads only regular files, never blocks, and refuses an
image too large to decode before decoding it, with bounded memory."""

import json
import os
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.data import read_image
from zoo.data.decode import check_file, max_pixels

SCAN = """if True:
    import json, sys
    from zoo.data import load_dataset
    dataset = load_dataset(sys.argv[1])
    # VmHWM, this process's peak (ru_maxrss would include the test process it was forked from)
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    peak_mb = int(status["VmHWM"].split()[0]) / 1024
    print(json.dumps({"n": len(dataset), "skipped": dataset.skipped, "peak_mb": peak_mb}))
"""


def _folder(root):
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def _scan(root, timeout=120, **env):
    result = subprocess.run([sys.executable, "-c", SCAN, str(root)], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **env})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_fifo_and_a_link_to_dev_zero_are_skipped_without_blocking(tmp_path):
    root = _folder(tmp_path / "data")
    os.mkfifo(root / "a" / "waiting.png")  # opened to read, it would wait for a writer forever
    (root / "b" / "endless.png").symlink_to("/dev/zero")  # read whole, it would fill the memory
    report = _scan(root, timeout=60)
    reasons = {os.path.basename(path): reason for path, reason in report["skipped"]}
    assert report["n"] == 8
    assert reasons == {
        "waiting.png": "not a regular file (a FIFO)",
        "endless.png": "not a regular file (a character device)",
    }


def test_predict_reports_a_special_file_instead_of_hanging(tmp_path):
    os.mkfifo(tmp_path / "x.png")
    with pytest.raises(zoo.DataError, match="not a regular file"):
        read_image(tmp_path / "x.png")


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    root = _folder(tmp_path / "data")
    Image.new("1", (12000, 12000)).save(root / "a" / "bomb.png")  # 144 megapixels in a few hundred KB
    assert (root / "a" / "bomb.png").stat().st_size < 1_000_000
    report = _scan(root)
    ((path, reason),) = report["skipped"]
    assert path.endswith("bomb.png") and "144 megapixels, above the zoo's limit of 64" in reason
    assert "ZOO_MAX_PIXELS" in reason
    assert report["peak_mb"] < 400, report  # decoded, it took 1.5 GB


def test_a_bomb_is_refused_in_the_zoos_words_without_pillows_warning(monkeypatch):
    """Pillow warns above 89 megapixels and refuses above 179 itself: the zoo says both, and nothing else."""
    from zoo.data import decode_image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def png(side: int) -> bytes:  # a header and no pixels: the size is all that is read
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IEND", b"")
        )

    monkeypatch.setenv("ZOO_MAX_PIXELS", str(10**9))  # the zoo's limit out of the way: Pillow's speaks
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning among them
        for side, said in ((12000, "cannot decode"), (20000, r"400000000 pixels\) exceeds limit")):
            with pytest.raises(zoo.DataError, match=said) as raised:
                decode_image(png(side))
            # 144 megapixels: allowed, and decoded (no pixels here), not stopped by the warning; 400: Pillow's refusal
            assert ("bomb" in str(raised.value)) == (side == 20000) and "DOS attack" not in str(raised.value)


def test_the_pixel_limit_is_configurable_and_checked(tmp_path, monkeypatch):
    Image.new("RGB", (300, 200)).save(tmp_path / "x.jpg")
    monkeypatch.setenv("ZOO_MAX_PIXELS", "50000")
    assert "above the zoo's limit" in check_file(str(tmp_path / "x.jpg"))[1]
    monkeypatch.setenv("ZOO_MAX_PIXELS", "60000")
    assert check_file(str(tmp_path / "x.jpg"))[1] is None
    monkeypatch.setenv("ZOO_MAX_PIXELS", "lots")
    with pytest.raises(zoo.ConfigError, match="ZOO_MAX_PIXELS must be a positive whole number"):
        max_pixels()


def test_a_large_jpeg_is_checked_at_a_reduced_scale_and_a_truncated_one_still_fails(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (2400, 3200, 3), dtype=np.uint8)).save(tmp_path / "big.jpg", quality=90)
    digest, reason = check_file(str(tmp_path / "big.jpg"))
    assert reason is None and len(digest) == 64
    data = (tmp_path / "big.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert check_file(str(tmp_path / "cut.jpg"))[1] is not None
    assert read_image(tmp_path / "big.jpg").shape == (2400, 3200, 3)  # training decodes the full image
