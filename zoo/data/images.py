"""Images: decoding with Pillow, checking files before training, the tf.data pipeline and augmentation.

Only Pillow and NumPy are imported here at module level; TensorFlow and Keras are imported inside the
functions that build pipelines and layers.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from zoo import interrupts
from zoo.config import AUGMENTATIONS
from zoo.console import Progress
from zoo.errors import ConfigError, DataError
from zoo.spec import INTERPOLATIONS

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from zoo.data.sources import Dataset

PROGRESS_ABOVE = 200  # files; a scan of more shows a progress bar
# An image above this many pixels is refused before it is decoded (a 12000x12000 PNG of 140 KB would take
# 1.5 GB); ZOO_MAX_PIXELS raises it. A generous margin over any backbone's input, and over most cameras.
ENV_MAX_PIXELS = "ZOO_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 64_000_000
MAX_FILE_BYTES = 1 << 30  # a file is read whole: one larger than 1 GiB is no image to train on
_CHECK_DRAFT = (512, 512)  # a JPEG is checked decoded at a reduced scale, at least this big (DCT scaling)
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_UINT16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


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


def _decode_unchanged(data: bytes, digest: bytes, path: bytes) -> np.ndarray:
    """:func:`decode_image` of bytes that still hash to the digest the scan took (the cache key of their
    features): a file changed since then raises :class:`DataError` rather than train on other pixels."""
    if hashlib.sha256(data).hexdigest() != digest.decode():
        raise DataError(f"{path.decode()} changed since the data was checked; run the command again")
    return decode_image(data)


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
        with Image.open(io.BytesIO(data)) as img:
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
    except DataError:
        raise
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError, ... for bad files
        raise DataError(f"cannot decode: {err}") from None


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in (*_UINT16_MODES, "I", "F"):
        grey = _grey_to_uint8(np.asarray(img), img.mode)
        return np.repeat(grey[..., None], 3, axis=2)
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint16)
        alpha = rgba[..., 3:]
        return ((rgba[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    return np.array(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)


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
    return Checked(hashlib.sha256(data).hexdigest(), ("reduced:" if reduced else "") + pixel_digest(pixels), None)


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


def augmentation_layers(
    augment: bool | str | Sequence[str] | None, image_size: tuple[int, int], seed: int = 0
) -> list[keras.layers.Layer]:
    """The Keras preprocessing layers for ``augment``: None/False none, True all, or names from ``AUGMENTATIONS``.

    They take and return float pixels in [0, 255] at ``image_size``, in the order of ``AUGMENTATIONS``;
    "crop" is a random crop of a 15% larger resize.

    >>> [type(layer).__name__ for layer in augmentation_layers(["flip", "contrast"], (32, 32))]
    ['RandomFlip', 'RandomContrast']
    """
    names = _augment_names(augment)
    if not names:
        return []
    import keras

    height, width = image_size
    makers: dict[str, Callable[[int], list[keras.layers.Layer]]] = {
        "crop": lambda s: [
            keras.layers.Resizing(round(height * 1.15), round(width * 1.15)),
            keras.layers.RandomCrop(height, width, seed=s),
        ],
        "flip": lambda s: [keras.layers.RandomFlip("horizontal", seed=s)],
        "rotation": lambda s: [keras.layers.RandomRotation(0.05, seed=s)],
        "zoom": lambda s: [keras.layers.RandomZoom(0.1, seed=s)],
        "contrast": lambda s: [keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=s)],
    }
    return [layer for i, name in enumerate(AUGMENTATIONS) if name in names for layer in makers[name](seed + i)]


def _augment_names(augment: bool | str | Sequence[str] | None) -> set[str]:
    if augment is None or augment is False:
        return set()
    if augment is True:
        return set(AUGMENTATIONS)
    names = {augment} if isinstance(augment, str) else set(augment)
    unknown = names - set(AUGMENTATIONS)
    if unknown:
        raise ConfigError(f"unknown augmentation {sorted(unknown)}; known: {', '.join(AUGMENTATIONS)}")
    return names


def image_pipeline(
    dataset: Dataset,
    *,
    image_size: tuple[int, int],
    interpolation: str = "bilinear",
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    augment: bool | str | Sequence[str] | None = None,
    with_targets: bool = True,
) -> tf.data.Dataset:
    """Batches of ``(pixels, targets)`` (or pixels alone): float32 RGB in [0, 255], shape ``(B, h, w, 3)``.

    Files are decoded in parallel with :func:`decode_image` and resized with ``tf.image.resize``;
    arrays are used as they are (resized when their size differs). Targets keep the dtype of
    ``dataset.targets``. ``shuffle`` reshuffles every epoch from ``seed``; without it the order is the
    dataset's. ``augment`` (see :func:`augmentation_layers`) is for training data only.

    >>> import numpy as np
    >>> from zoo.data import load_dataset
    >>> pixels = np.arange(4 * 8 * 8 * 3).reshape(4, 8, 8, 3).astype(np.uint8)  # four different images
    >>> dataset = load_dataset((pixels, ["cat", "dog", "cat", "dog"]))
    >>> ds = image_pipeline(dataset, image_size=(16, 16), batch_size=3, shuffle=True, augment=True)
    >>> [tuple(pixels.shape) for pixels, targets in ds]
    [(3, 16, 16, 3), (1, 16, 16, 3)]
    """
    import tensorflow as tf

    height, width = _check_size(image_size)
    if interpolation not in INTERPOLATIONS:
        raise ConfigError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    layers = augmentation_layers(augment, (height, width), seed)
    n = len(dataset)
    if n == 0:
        raise DataError("the dataset is empty")

    def resize(images: tf.Tensor) -> tf.Tensor:
        return resize_images(images, (height, width), interpolation)

    order = tf.data.Dataset.range(n)
    if shuffle:
        order = order.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    targets = tf.constant(dataset.targets)
    if dataset.images is not None:
        images = tf.constant(dataset.images)
        ds = order.batch(batch_size).map(
            lambda i: (resize(tf.gather(images, i)), tf.gather(targets, i)), num_parallel_calls=tf.data.AUTOTUNE
        )
    elif dataset.paths is not None:
        paths, digests = tf.constant(dataset.paths), tf.constant(dataset.digests)

        def load(i: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            inputs = [tf.io.read_file(paths[i]), digests[i], paths[i]]
            pixels = tf.numpy_function(_decode_unchanged, inputs, tf.uint8, stateful=False)
            return resize(tf.ensure_shape(pixels, [None, None, 3])), targets[i]

        ds = order.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle).batch(batch_size)
    else:
        raise DataError("the dataset has neither paths nor images")
    if layers:
        ds = ds.map(lambda x, y: (_apply(layers, x), y), num_parallel_calls=tf.data.AUTOTUNE)
    if not with_targets:
        ds = ds.map(lambda x, y: x)
    return ds.prefetch(tf.data.AUTOTUNE)


def resize_images(images: tf.Tensor, size: tuple[int, int], interpolation: str) -> tf.Tensor:
    """Images ``(h, w, 3)`` or ``(b, h, w, 3)`` of any size as float32 in [0, 255] at ``size``, in a TF graph.

    The one resize of the data pipeline and of an exported SavedModel's signature (a no-op at ``size``).

    >>> import tensorflow as tf
    >>> resize_images(tf.zeros((2, 8, 8, 3), tf.uint8), (4, 4), "bilinear").shape
    TensorShape([2, 4, 4, 3])
    """
    import tensorflow as tf

    height, width = size
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    same = tf.logical_and(tf.equal(shape[-3], height), tf.equal(shape[-2], width))
    resized = tf.cond(
        same,
        lambda: images,
        lambda: tf.clip_by_value(tf.image.resize(images, (height, width), method=interpolation), 0.0, 255.0),
    )
    return tf.ensure_shape(resized, [*images.shape[:-3], height, width, 3])


def _apply(layers: list[Any], images: Any) -> Any:
    import tensorflow as tf

    shape = images.shape
    for layer in layers:
        images = layer(images, training=True)
    return tf.ensure_shape(images, shape)


def _check_size(image_size: Any) -> tuple[int, int]:
    size = tuple(image_size) if isinstance(image_size, (tuple, list)) else ()
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size):
        raise ConfigError(f"image_size must be (height, width) with positive integers, got {image_size!r}")
    return int(size[0]), int(size[1])
