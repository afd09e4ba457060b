"""Decoding: image files to RGB pixels with Pillow, pixel arrays to RGB uint8, text files to strings.

Every file is read here, and only a regular file (a FIFO, a device or a socket is refused without
blocking), of a bounded size. Only Pillow and NumPy are imported; neither TensorFlow nor Keras.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from zoo import interrupts
from zoo.console import Progress
from zoo.errors import ConfigError, DataError, DataWarning, first_line

PROGRESS_ABOVE = 200  # files; a scan of more shows a progress bar
# An image above this many pixels is refused before it is decoded (a 12000x12000 PNG of 140 KB would take
# 1.5 GB); ZOO_MAX_PIXELS raises it. A generous margin over any backbone's input, and over most cameras.
ENV_MAX_PIXELS = "ZOO_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 64_000_000
MAX_FILE_BYTES = 1 << 30  # a file is read whole: one larger than 1 GiB is no image to train on
_CHECK_DRAFT = (512, 512)  # a JPEG is checked decoded at a reduced scale, at least this big (DCT scaling)
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_UINT16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
REDUCED = "reduced:"  # prefixes the pixel digest of a large JPEG checked at a reduced scale (check_image)
# A .txt file above this many bytes is skipped, not read: a text model reads a few hundred tokens of a text, and
# /dev/zero never ends. ZOO_MAX_TEXT_BYTES raises it.
ENV_MAX_TEXT_BYTES = "ZOO_MAX_TEXT_BYTES"
DEFAULT_MAX_TEXT_BYTES = 16 << 20
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")  # not an escaped byte (U+DC80..U+DCFF)


def decode_image(data: bytes) -> np.ndarray:
    """Decode encoded image bytes into an ``(H, W, 3)`` uint8 RGB array, as the data pipeline does.

    Grey and 1-bit images are repeated over three channels; transparency (RGBA, LA, palette or
    tRNS) is composited onto white; 16-bit grey is scaled by 255/65535, 32-bit integer grey by the
    16-bit range when every value fits in it and by the 32-bit range otherwise, float grey is taken
    as [0, 1]; CMYK becomes RGB; the EXIF orientation is applied. Anything undecodable or truncated
    raises :class:`DataError` with the reason.

    >>> png = io.BytesIO()
    >>> Image.new("LA", (2, 1), (0, 0)).save(png, "PNG")
    >>> decode_image(png.getvalue())[0, 0].tolist()
    [255, 255, 255]
    """
    return _decode(data)[0]


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The pixels of an image file, as :func:`decode_image` gives them; only a regular file is read (see
    :func:`check_file`). :class:`DataError` (or ``OSError``) says why a file cannot be used.

    >>> read_image("/dev/zero")
    Traceback (most recent call last):
    zoo.errors.DataError: not a regular file (a character device)
    """
    return decode_image(read_regular(os.fspath(path)))


def max_pixels() -> int:
    """The largest image (width x height) the zoo decodes: ``$ZOO_MAX_PIXELS``, else 64 million.

    >>> max_pixels()
    64000000
    """
    value = os.environ.get(ENV_MAX_PIXELS, "")
    if not value:
        return DEFAULT_MAX_PIXELS
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{ENV_MAX_PIXELS} must be a positive whole number of pixels, got {value!r}")
    return int(value)


def pixel_digest(pixels: np.ndarray) -> str:
    """The sha256 of decoded pixels ``(H, W, 3)`` uint8, their shape first: what two files that differ only in
    metadata (a PNG text chunk, EXIF) have in common.

    >>> black = np.zeros((2, 2, 3), np.uint8)
    >>> pixel_digest(black) == pixel_digest(black.copy()) != pixel_digest(black[:1])
    True
    """
    digest = hashlib.sha256(f"{pixels.shape[0]}x{pixels.shape[1]}x3:".encode())
    digest.update(np.ascontiguousarray(pixels))  # type: ignore[arg-type]
    return digest.hexdigest()


def _decode(data: bytes, draft: bool = False) -> tuple[np.ndarray, bool]:
    """:func:`decode_image`, and whether it was reduced: ``draft=True`` decodes a JPEG at a reduced scale
    (enough to check the file)."""
    if not data:
        raise DataError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():  # Pillow warns above its own limit: the zoo's, below, says what to do
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        with img:
            width, height = img.size
            if width * height > max_pixels():  # checked on the header, before a byte is decoded
                raise DataError(
                    f"{width}x{height} is {width * height / 1e6:.0f} megapixels, above the zoo's limit of "
                    f"{max_pixels() / 1e6:.0f} (a decompression bomb?); set {ENV_MAX_PIXELS} to allow it"
                )
            if draft and img.format == "JPEG":
                img.draft("RGB", _CHECK_DRAFT)
            reduced = img.size != (width, height)
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
            return _to_rgb(img), reduced
    except UnidentifiedImageError:
        raise DataError("not an image Pillow can read") from None
    except Image.DecompressionBombError as err:  # over twice Pillow's limit: refused before the zoo could look
        raise DataError(f"{first_line(err).split(', could be')[0]}, beyond what Pillow decodes (a decompression "
                        "bomb?)") from None  # fmt: skip
    except DataError:
        raise
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError, ... for bad files
        raise DataError(f"cannot decode: {err}") from None


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in (*_UINT16_MODES, "I", "F"):
        grey = _grey_to_uint8(np.asarray(img), img.mode)
        return np.repeat(grey[..., None], 3, axis=2)
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        return composite_on_white(np.asarray(img.convert("RGBA")))
    return np.array(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """RGBA uint8 pixels ``(..., 4)`` composited onto white: RGB uint8 ``(..., 3)``, rounded to nearest.

    The one alpha composite, of decoded files (:func:`decode_image`) and of pixel arrays (:func:`rgb_uint8`).

    >>> composite_on_white(np.array([[0, 0, 0, 0], [0, 0, 0, 255], [0, 0, 0, 128]], np.uint8)).tolist()
    [[255, 255, 255], [0, 0, 0], [127, 127, 127]]
    """
    alpha = rgba[..., 3:].astype(np.uint16)
    return ((rgba[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _grey_to_uint8(grey: np.ndarray, mode: str) -> np.ndarray:
    if mode == "F":
        top = 1.0
        grey = np.nan_to_num(grey, nan=0.0)
    elif mode == "I" and (grey.min(initial=0) < 0 or grey.max(initial=0) > 65535):
        top = 2.0**31 - 1
    else:
        top = 65535.0
    scaled = np.clip(grey.astype(np.float64), 0.0, top) * (255.0 / top)
    return np.rint(scaled).astype(np.uint8)


class Checked(NamedTuple):
    """What :func:`check_image` found: the sha256 of a file's bytes and of its decoded pixels, or why not."""

    digest: str | None
    pixels: str | None  # pixel_digest(); prefixed "reduced:" when a large JPEG was checked at a reduced scale
    reason: str | None


def check_image(path: str) -> Checked:
    """Read a file once, hash it, decode it and hash its pixels; ``reason`` says why it cannot be used.

    Only a regular file (after links are followed) is read, and at most :data:`MAX_FILE_BYTES`: a
    FIFO, a device such as ``/dev/zero`` or a socket is refused without blocking. A JPEG is decoded
    at a reduced scale, which reads and checks the whole stream; its pixel digest is then that of
    the reduced image, marked ``reduced:`` (two such files are compared whole where they meet).

    >>> check_image("/dev/zero")
    Checked(digest=None, pixels=None, reason='not a regular file (a character device)')
    """
    try:
        data = read_regular(path)
    except OSError as err:
        return Checked(None, None, f"unreadable: {err.strerror or err}")
    except DataError as err:
        return Checked(None, None, str(err))
    try:
        pixels, reduced = _decode(data, draft=True)
    except DataError as err:
        return Checked(None, None, str(err))
    return Checked(hashlib.sha256(data).hexdigest(), (REDUCED if reduced else "") + pixel_digest(pixels), None)


def check_file(path: str) -> tuple[str | None, str | None]:
    """:func:`check_image` without the pixels: ``(sha256 hex digest, None)`` or ``(None, reason)``.

    >>> check_file("/no/such/file.png")
    (None, 'unreadable: No such file or directory')
    >>> check_file("/dev/zero")
    (None, 'not a regular file (a character device)')
    """
    checked = check_image(path)
    return checked.digest, checked.reason


def read_regular(path: str, limit: int | None = MAX_FILE_BYTES, hint: str = "no image to train on") -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes (``None``: any size);
    :class:`DataError` if not, ``hint`` saying what to do about a larger one.

    Opened without blocking (a FIFO opened to read would wait for a writer), then checked on the
    open descriptor, so a file swapped for a FIFO in between is caught too.

    >>> read_regular("/dev/zero")
    Traceback (most recent call last):
    zoo.errors.DataError: not a regular file (a character device)
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise DataError(f"not a regular file ({_KINDS.get(stat.S_IFMT(mode), 'a special file')})")
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        size = f"{limit >> 20} MB" if limit >= 1 << 20 and not limit % (1 << 20) else f"{limit} bytes"
        raise DataError(f"larger than {size}: {hint}")
    return data


_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}  # fmt: skip


def scan_files(
    paths: Sequence[str], *, workers: int | None = None, progress: bool | None = None
) -> list[tuple[str | None, str | None]]:
    """:func:`check_file` on every path with a thread pool (Pillow decodes without the GIL), in order.

    ``progress=None`` shows a bar on stderr above 200 files.

    >>> scan_files([])
    []
    """
    return [(c.digest, c.reason) for c in scan_images(paths, workers=workers, progress=progress)]


def scan_images(paths: Sequence[str], *, workers: int | None = None, progress: bool | None = None) -> list[Checked]:
    """:func:`check_image` on every path, as :func:`scan_files` does: with the digests of the decoded pixels."""
    workers = workers or min(32, (os.cpu_count() or 1) + 4)
    shown = len(paths) > PROGRESS_ABOVE if progress is None else progress
    bar = Progress(f"checking images ({len(paths)} files)", len(paths), "file") if shown else None
    results = []
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for result in pool.map(check_image, paths):
            results.append(result)
            if bar:
                bar.update(len(results))
            interrupts.check()
    finally:  # Ctrl-C: the files not started are dropped, not checked to the end before it stops
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def rgb_uint8(x: np.ndarray) -> np.ndarray:
    """Pixel arrays ``(N, H, W[, 1|3|4])`` checked (no NaN, values in [0, 255]) and made RGB uint8, as training
    takes them; :class:`DataError` otherwise.

    >>> rgb_uint8(np.zeros((1, 2, 2))).shape
    (1, 2, 2, 3)
    """
    if x.dtype.kind not in "iuf":
        raise DataError(f"images must be a numeric array of pixels in [0, 255], got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(f"images must have shape (N, H, W) or (N, H, W, 1|3|4), got {x.shape}")
    if x.dtype != np.uint8:
        low, high = (x.min(), x.max()) if x.size else (0, 0)
        if not 0 <= low <= high <= 255:  # also catches NaN
            raise DataError(f"pixel values must be in [0, 255], got {low}..{high}")
        if x.dtype.kind == "f" and 0 < high <= 1:
            warnings.warn(
                "every pixel value is within [0, 1], but the zoo expects raw pixels in [0, 255]; "
                "multiply the images by 255 if they were scaled",
                DataWarning,
                stacklevel=4,
            )
        x = (np.rint(x) if x.dtype.kind == "f" else x).astype(np.uint8)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    elif x.shape[-1] == 4:  # composite onto white, as decode_image does
        x = composite_on_white(x)
    return np.ascontiguousarray(x)


def max_text_bytes() -> int:
    """The largest ``.txt`` file the zoo reads as one text: ``$ZOO_MAX_TEXT_BYTES``, else 16 MB.

    >>> max_text_bytes()
    16777216
    """
    value = os.environ.get(ENV_MAX_TEXT_BYTES, "")
    if not value:
        return DEFAULT_MAX_TEXT_BYTES
    if not value.isdecimal() or int(value) < 1:
        raise ConfigError(f"{ENV_MAX_TEXT_BYTES} must be a positive whole number of bytes, got {value!r}")
    return int(value)


def _read_text(path: str, limit: int) -> tuple[str, bool]:
    """A ``.txt`` file's text, repaired (see :func:`repair_text`); only a regular file, of at most ``limit`` bytes,
    is read (:class:`DataError` otherwise: a FIFO would block, ``/dev/zero`` fill the memory)."""
    hint = f"far more than a text model reads; set {ENV_MAX_TEXT_BYTES} to read it"
    return repair_text(_decode_text(read_regular(path, limit, hint)))


def _decode_text(data: bytes) -> str:
    """UTF-8 bytes to a string without a BOM; bytes that are not UTF-8 stay escaped for :func:`repair_text`."""
    return data.decode("utf-8-sig", "surrogateescape")


def repair_text(text: str) -> tuple[str, bool]:
    """``(text, False)``, or the text with undecodable bytes (and lone surrogates) replaced by U+FFFD and True.

    >>> repair_text(b"caf\\xe9 ok".decode("utf-8", "surrogateescape"))
    ('caf\ufffd ok', True)
    """
    if not _SURROGATE.search(text):
        return text, False
    text = _LONE_SURROGATE.sub("\ufffd", text)  # from JSON escapes such as "\\ud800"; not bytes
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), True
