"""``zoo serve``: a finished run behind an HTTP API that TensorFlow Serving's clients already speak, with dynamic
batching, a web page, health checks and limits (FastAPI on uvicorn).

- ``POST /v1/models/<name>:predict``: TF Serving's REST predict, ``{"instances": [...]}`` (rows) or
  ``{"inputs": ...}`` (columns); an image is ``{"b64": "<base64 of the file>"}``, a text is a string. The answer
  is ``{"predictions": [[score, ...], ...]}`` (or ``{"outputs": ...}``), each row the model's output.
- ``GET /v1/models/<name>`` (its status) and ``GET /v1/models/<name>/metadata`` (its signature, and the zoo's
  record: class names, input size, preprocessing, sequence length).
- ``POST /predict``: one image uploaded as a multipart file (``file``), or a text (``text``), answered with the
  top classes as JSON; ``GET /`` a page that does the same in a browser (no network: it is in the package).
- ``GET /healthz`` (the process answers) and ``GET /readyz`` (the model is loaded and warmed up).

Concurrent requests are gathered into one batch of at most ``max_batch`` inputs, waiting at most ``max_wait_ms``
for more; each batch is padded to a power of two, so the model is traced for a few shapes once and never again.
Every image goes through the zoo's decoding and its checks (the pixel limit among them); a bad request is a 4xx
answer with ``{"error": "..."}`` naming the cause, and the server goes on. SIGTERM (or Ctrl-C) stops accepting
connections, answers the requests in flight, and exits 0.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import errno
import json
import logging
import math
import os
import re
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request  # module-level: FastAPI reads the handlers' annotations from this module
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from zoo import console, interrupts
from zoo.data.decode import decode_image, repair_text
from zoo.data.listing import with_article
from zoo.errors import ConfigError, DataError, first_line, out_of_memory
from zoo.exports.formats import METADATA, SERVING, output_name
from zoo.exports.metadata import is_export
from zoo.run import Run

MAX_BATCH = 32  # inputs run as one batch
MAX_WAIT_MS = 5.0  # how long the first request of a batch waits for others
MAX_REQUEST_BYTES = 32 * 2**20  # the body of one request
DRAIN_SECONDS = 10  # an oversized body is read and dropped this long before the 413 (see `_drain`)
TOP_K = 5  # classes /predict answers with
VERSION = "1"  # the one version a zoo server serves (TF Serving's clients ask for it)
# A model's name: one URL path segment as it is, never percent-encoded (TF Serving's names exclude "/" and ":").
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class Batcher:
    """Runs ``predict`` on batches gathered from concurrent :meth:`submit` calls (at most ``max_batch`` inputs,
    the first waiting at most ``max_wait`` seconds for more), one batch at a time in a worker thread; a batch is
    padded to the next power of two (``pad`` gives the filler input), so ``predict`` sees few shapes."""

    def __init__(
        self, predict: Callable[[np.ndarray], np.ndarray], pad: Any, max_batch: int = MAX_BATCH, max_wait: float = 0.005
    ) -> None:
        self.predict, self.pad, self.max_batch, self.max_wait = predict, pad, max_batch, max_wait
        self.queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = asyncio.Queue()
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="zoo-serve")
        self.batches = self.inputs = 0  # batches and inputs run so far (``/readyz`` says them)

    async def submit(self, inputs: np.ndarray) -> np.ndarray:
        """The model's outputs for ``inputs`` (one request's), computed in a batch with other requests'."""
        done: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self.queue.put((inputs, done))
        return await done

    async def run(self) -> None:
        """Gather and run batches until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            waiting = [await self.queue.get()]
            size, deadline = len(waiting[0][0]), loop.time() + self.max_wait
            while size < self.max_batch:
                try:
                    item = await asyncio.wait_for(self.queue.get(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    break
                if size + len(item[0]) > self.max_batch:  # it waits for the next batch
                    await self._run(loop, waiting)
                    waiting, size, deadline = [item], len(item[0]), loop.time() + self.max_wait
                    continue
                waiting.append(item)
                size += len(item[0])
            await self._run(loop, waiting)

    async def _run(self, loop: asyncio.AbstractEventLoop, waiting: list[tuple[np.ndarray, Any]]) -> None:
        batch = np.concatenate([inputs for inputs, _ in waiting])
        padded = self.padded(batch)
        try:
            outputs = await loop.run_in_executor(self.worker, self.predict, padded)
        except Exception as err:  # the model failed on this batch: each request of it says so
            for _, done in waiting:
                if not done.done():
                    done.set_exception(err)
            return
        self.batches += 1
        self.inputs += len(batch)
        start = 0
        for inputs, done in waiting:
            if not done.done():  # a client that went away cancelled its future
                done.set_result(outputs[start : start + len(inputs)])
            start += len(inputs)

    def padded(self, batch: np.ndarray) -> np.ndarray:
        """``batch`` with filler rows up to the next power of two (at most ``max_batch``, or ``batch``'s own size).

        >>> Batcher(lambda x: x, 0, max_batch=32).padded(np.ones(5)).tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
        """
        size = len(batch)
        target = max(size, min(self.max_batch, 1 << (size - 1).bit_length()))
        if target == size:
            return batch
        filler = np.repeat(np.asarray([self.pad], dtype=batch.dtype), target - size, axis=0)
        return np.concatenate([batch, filler])


class RequestError(ValueError):
    """A request the server cannot use: its status (400, 404, 411, 413) and the cause, said as ``{"error": ...}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Served:
    """What the server serves: a model (a finished run's, or an exported SavedModel's serving signature), its name,
    what it says about itself, and how a request becomes its input."""

    def __init__(self, name: str, call: Callable[[np.ndarray], np.ndarray], record: dict[str, Any]) -> None:
        self.name, self.call, self.record = name, call, record
        self.text = record["modality"] == "text"
        self.size = None if self.text else tuple(record["input_shape"][:2])
        self.class_names: list[str] = record["class_names"]
        self.input_name = "text" if self.text else "images"  # the signature's input, as metadata() says

    @classmethod
    def of(cls, source: str | os.PathLike[str] | Run, name: str | None) -> Served:
        """A finished run (its directory, or a :class:`zoo.Run`), or a folder ``zoo export --format savedmodel``
        wrote."""
        if not isinstance(source, Run) and is_export(Path(source)):
            return cls._export(Path(source), name)
        run = source if isinstance(source, Run) else Run.finished(source)
        record = {
            "backbone": run.model_config.backbone,
            "task": run.task,
            "class_names": list(run.class_names),
            "num_outputs": run.model_config.num_outputs,
            "modality": run.modality,
            "input_shape": list(run.input_shape),
            "sequence_length": run.input_shape[0] if run.modality == "text" else None,
            "interpolation": None if run.modality == "text" else run.interpolation,
            "preprocessing": run.spec.get("preprocessing"),
        }
        model = run.model  # loaded now: a damaged model.keras is the caller's error, not the server's failed start
        return cls(name or default_name(run), lambda batch: np.asarray(model.predict_on_batch(batch)), record)

    @classmethod
    def _export(cls, folder: Path, name: str | None) -> Served:
        """An exported SavedModel: its ``serving_default`` signature, fed the images resized to the training size
        and rounded to uint8 (the signature's input type; it resizes nothing more), or the texts. Its labels are
        metadata.json's, checked against the class names the signature itself gives."""
        import tensorflow as tf

        def damaged(why: str) -> ConfigError:
            return ConfigError(f"{folder} is a damaged export ({why}): export the run again (zoo export RUN --format "
                               "savedmodel)")  # fmt: skip

        try:
            meta = json.loads((folder / METADATA).read_text(encoding="utf-8"))
            if meta.get("format") != "savedmodel":
                kind = with_article(str(meta.get("format")))
                raise ConfigError(f"{folder} holds {kind} export: zoo serve serves a run directory or a SavedModel "
                                  "export (zoo export --format savedmodel)")  # fmt: skip
            text = meta["modality"] == "text"
            if not text and "size" not in meta["input"]:
                raise ConfigError(f"{folder} was exported by an older zoo, whose metadata.json has no training "
                                  "size: export the run again")  # fmt: skip
            key, output, labels = meta["input"]["name"], meta["output"]["name"], list(meta["labels"])
            size = [meta["input"]["sequence_length"]] if text else [*meta["input"]["size"], 3]
            record = {
                "backbone": meta["backbone"]["name"],
                "task": meta["task"],
                "class_names": labels,
                "modality": meta["modality"],
                "input_shape": list(size),
                "sequence_length": meta["input"].get("sequence_length"),
                "interpolation": meta["preprocessing"].get("interpolation"),
                "preprocessing": meta["preprocessing"],
            }
        except ConfigError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            why = f"{err} is missing" if isinstance(err, KeyError) else first_line(err)
            raise damaged(f"its {METADATA} cannot be read: {why}") from None
        if text:
            import tensorflow_text  # noqa: F401  (the tokenizer's ops)
        try:
            signature = tf.saved_model.load(str(folder)).signatures[SERVING]
            example = np.array([""], dtype=object) if text else np.zeros((1, *size), "uint8")
            answer = signature(**{key: tf.constant(example)})
        except Exception as err:  # TensorFlow's own errors for a file cut short, lost variables, another graph
            raise damaged(first_line(err)[:200]) from None
        classes = [c.decode() for c in answer["classes"].numpy()[0]] if "classes" in answer else labels
        if classes != labels:
            raise damaged(f"{METADATA} names the classes {labels!r:.120}, the model itself {classes!r:.120}")
        record["num_outputs"] = int(answer[output].shape[-1])

        def call(batch: np.ndarray) -> np.ndarray:
            fed = batch if text else np.clip(np.round(batch), 0, 255).astype("uint8")
            return np.asarray(signature(**{key: tf.constant(fed)})[output])

        return cls(name or default_name(folder), call, record)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """The model on one padded batch (a few shapes: each traced once)."""
        return self.call(batch)

    @property
    def pad(self) -> Any:
        return "" if self.text else np.zeros((*self.size, 3), dtype="float32")  # type: ignore[misc]

    def inputs(self, items: list[Any]) -> np.ndarray:
        """The model's inputs for a request's ``items``: texts, or images as ``{"b64": ...}`` (or raw bytes)."""
        if not items:
            raise RequestError("the request holds no input: give one or more instances")
        if self.text:
            texts = []
            for item in items:
                if isinstance(item, dict) and set(item) == {"text"}:
                    item = item["text"]
                if not isinstance(item, str):
                    raise RequestError(f"a text model takes strings, got {type(item).__name__}: {str(item)[:60]!r}")
                texts.append(repair_text(item)[0])
            return np.array(texts, dtype=object)
        return np.stack([self._image(item) for item in items])

    def _image(self, item: Any) -> np.ndarray:
        from zoo.data.pipelines import resize_images

        if isinstance(item, dict) and len(item) == 1 and isinstance(next(iter(item.values())), dict):
            item = next(iter(item.values()))  # a named input: {"images": {"b64": ...}}
        if isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str):
            try:
                data = base64.b64decode(item["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise RequestError('an image\'s "b64" is not valid base64') from None
        elif isinstance(item, bytes):
            data = item
        else:
            raise RequestError('each image must be {"b64": "<base64 of the image file>"}, got ' + _shown(item))
        try:
            pixels = decode_image(data)
        except DataError as err:
            raise RequestError(f"an image cannot be used: {first_line(err)}") from None
        return np.asarray(resize_images(pixels, self.size, self.record["interpolation"]))  # type: ignore[arg-type]

    def metadata(self) -> dict[str, Any]:
        """TF Serving's metadata answer, with the zoo's record of the model beside its signature."""
        # what a request holds: one string per input, a text or an encoded image file (its size any: "zoo" says the
        # size it is resized to), as TF Serving says an input of encoded images
        inputs = {self.input_name: {"dtype": "DT_STRING", "tensor_shape": _shape([-1])}}
        outputs = {
            output_name(self.record["task"]): {
                "dtype": "DT_FLOAT",
                "tensor_shape": _shape([-1, self.record["num_outputs"]]),
            }
        }
        signature = {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": VERSION},
            "metadata": {"signature_def": {"signature_def": {SERVING: signature}}},
            "zoo": self.record,
        }

    def top(self, scores: np.ndarray, k: int = TOP_K) -> list[dict[str, Any]]:
        """The ``k`` best classes of one output row (the values, for regression)."""
        if self.record["task"] == "regression":
            return [{"value": float(v)} for v in np.atleast_1d(scores)]
        order = np.argsort(-scores)[: min(k, len(scores))]
        return [{"label": self.class_names[i], "score": float(scores[i])} for i in order]


def _shape(dims: list[int]) -> dict[str, Any]:
    return {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False}


async def _drain(request: Request, most: int) -> None:
    """Read and drop the rest of an oversized body (up to ``most`` bytes and `DRAIN_SECONDS`) before the 413 goes
    out. Most clients (urllib, requests, browsers) send the whole body before they read the answer; closing on them
    mid-body resets the connection, and they see a broken pipe instead of the 413 that says why (nginx's
    "lingering close" does the same). Beyond either bound the connection is closed on them.
    """

    async def read() -> None:
        count = 0
        async for chunk in request.stream():
            count += len(chunk)
            if count > most:
                return

    with contextlib.suppress(asyncio.TimeoutError, ClientDisconnect):
        await asyncio.wait_for(read(), DRAIN_SECONDS)


def _shown(item: Any) -> str:
    return f"{type(item).__name__} {json.dumps(item)[:60] if isinstance(item, (dict, list)) else ''}".rstrip()


def default_name(source: str | os.PathLike[str] | Run) -> str:
    """The name a model is served under without ``--name``: its run directory's, for an export of it too.

    >>> default_name("runs/r50")
    'r50'
    """
    folder = source.path if isinstance(source, Run) else Path(source)
    if not isinstance(source, Run) and is_export(folder):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            run = json.loads((folder / METADATA).read_text(encoding="utf-8"))["source_run"]
            if run:  # None: exported from a model, not a run
                return Path(run).name
    return folder.resolve().name


def check_options(
    source: str | os.PathLike[str] | Run,
    *,
    name: str | None = None,
    max_batch: int = MAX_BATCH,
    max_wait_ms: float = MAX_WAIT_MS,
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> str:
    """The model's name in the URLs (``name``, or the folder's); :class:`ConfigError` for an option the server cannot
    run with, before anything loads.

    >>> check_options("runs/r50", max_batch=8)
    'r50'
    >>> check_options("runs/r50", name="r50/v2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    zoo.errors.ConfigError: the model's name 'r50/v2' cannot be a URL path segment: ... such as 'r50-v2'
    """
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ConfigError(f"max_batch must be a positive integer, got {max_batch!r}")
    if not 0 <= max_wait_ms < math.inf:
        raise ConfigError(f"max_wait_ms must be a number of milliseconds, 0 or more, got {max_wait_ms!r}")
    if isinstance(max_request_bytes, bool) or not isinstance(max_request_bytes, int) or max_request_bytes < 1:
        raise ConfigError(f"max_request_bytes must be a positive integer, got {max_request_bytes!r}")
    chosen = name if name is not None else default_name(source)
    if not MODEL_NAME.fullmatch(chosen):
        suggested = re.sub(r"[^A-Za-z0-9._-]+", "-", chosen).strip("-._") or "model"
        what = repr(chosen) if name is not None else f"{chosen!r} (the folder's)"
        raise ConfigError(f"the model's name {what} cannot be a URL path segment: give a --name of letters, digits, "
                          f"'.', '_' and '-', such as {suggested!r}")  # fmt: skip
    return chosen


def make_app(
    source: str | os.PathLike[str] | Run,
    *,
    name: str | None = None,
    max_batch: int = MAX_BATCH,
    max_wait_ms: float = MAX_WAIT_MS,
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> Any:
    """The FastAPI application that serves ``source`` (see the module's docstring): a finished run's directory (or
    :class:`zoo.Run`), or a SavedModel export's folder; ``zoo serve`` runs it with uvicorn. ``name``: the model's
    name in the URLs (default: the folder's name).

    >>> app = make_app("runs/demo/run")
    >>> sorted({route.path for route in app.routes if "models" in route.path})
    ['/v1/models/{target}', '/v1/models/{target}/metadata']
    """
    name = check_options(source, name=name, max_batch=max_batch, max_wait_ms=max_wait_ms,
                         max_request_bytes=max_request_bytes)  # fmt: skip
    served = Served.of(source, name)
    state: dict[str, Any] = {"ready": False}

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        batcher = Batcher(served.predict, served.pad, max_batch, max_wait_ms / 1000)
        loop = asyncio.get_running_loop()
        for size in _bucket_sizes(max_batch):  # every padded shape traced before the first request
            padded = batcher.padded(np.stack([served.pad] * size))
            try:
                await loop.run_in_executor(batcher.worker, served.predict, padded)
            except Exception as err:  # for zoo serve to raise once uvicorn gives up (serve: Server.startup)
                app.state.warm_up_failed = _warm_up_error(err, served.name, size, max_batch)
                raise
        state.update(batcher=batcher, task=asyncio.create_task(batcher.run()), ready=True)
        yield
        state["task"].cancel()
        batcher.worker.shutdown(wait=True)

    app = FastAPI(title=f"zoo: {served.name}", lifespan=lifespan, docs_url=None, redoc_url=None)

    def error(message: str, status: int, headers: Mapping[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.middleware("http")
    async def limit_size(request: Request, call_next: Any) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_request_bytes):
            await _drain(request, 4 * max_request_bytes)
            return error(f"the request is over the size limit of {max_request_bytes} bytes", 413)
        return await call_next(request)

    async def body_of(request: Request) -> bytes:
        body = b""
        async for chunk in request.stream():  # a chunked body with no declared length is counted as it comes
            body += chunk
            if len(body) > max_request_bytes:
                break
        else:
            return body
        await _drain(request, 4 * max_request_bytes)
        raise RequestError(f"the request is over the size limit of {max_request_bytes} bytes", 413)

    async def outputs(items: list[Any]) -> np.ndarray:
        inputs = served.inputs(items)
        if len(inputs) > max_batch * 8:
            raise RequestError(f"at most {max_batch * 8} inputs a request, got {len(inputs)}: send fewer at a time")
        return await state["batcher"].submit(inputs)

    def model_named(target: str) -> str:
        model, _, verb = target.partition(":")
        if model != served.name:
            raise RequestError(f"no model named {model!r} here: this server serves {served.name!r}", 404)
        return verb

    def unknown_method(target: str) -> RequestError:
        return RequestError(f"unknown method {target!r}: POST /v1/models/{served.name}:predict", 404)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, err: RequestError) -> JSONResponse:
        return error(str(err), err.status, {"Allow": "POST"} if err.status == 405 else None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:  # no such path, or method
        return error(f"{request.method} {request.url.path}: {err.detail}", err.status_code, err.headers)

    @app.post("/v1/models/{target}")
    async def tf_serving_predict(target: str, request: Request) -> JSONResponse:
        if model_named(target) != "predict":
            raise unknown_method(target)
        text = await body_of(request)
        try:
            body = json.loads(text)
        except (ValueError, UnicodeDecodeError) as err:
            raise RequestError(f"the body is not JSON: {first_line(err)}") from None
        except RecursionError:
            raise RequestError("the body is not JSON the server reads: nested too deeply") from None
        if not isinstance(body, dict) or not {"instances", "inputs"} & set(body):
            raise RequestError('the body must be a JSON object with "instances" (rows) or "inputs" (columns)')
        if {"instances", "inputs"} <= set(body):
            raise RequestError('give "instances" (rows) or "inputs" (columns), not both')
        signature = body.get("signature_name") or SERVING
        if signature != SERVING:
            raise RequestError(f"no signature {signature!r} here: this server serves {SERVING!r}, the "
                               "model's outputs (for the pooled features, serve the SavedModel export with TF "
                               "Serving)")  # fmt: skip
        rows = "instances" in body
        items = body["instances" if rows else "inputs"]
        if isinstance(items, dict):  # columns by input name: {"inputs": {"images": [...]}}
            if set(items) != {served.input_name}:
                raise RequestError(f"the inputs by name must be {{{served.input_name!r}: [...]}}, the model's one "
                                   f"input; got {sorted(items)}")  # fmt: skip
            items = items[served.input_name]
        if not isinstance(items, list):
            items = [items]
        scores = (await outputs(items)).tolist()
        return JSONResponse({"predictions": scores} if rows else {"outputs": scores})

    @app.get("/v1/models/{target}")
    async def status(target: str) -> dict[str, Any]:
        verb = model_named(target)
        if verb == "predict":
            raise RequestError(f"predict takes a POST: POST /v1/models/{served.name}:predict", 405)
        if verb:
            raise unknown_method(target)
        state_name = "AVAILABLE" if state["ready"] else "LOADING"
        return {"model_version_status": [{"version": VERSION, "state": state_name,
                                          "status": {"error_code": "OK", "error_message": ""}}]}  # fmt: skip

    @app.get("/v1/models/{target}/metadata")
    async def metadata(target: str) -> dict[str, Any]:
        model_named(target)
        return served.metadata()

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            if "content-length" not in request.headers:  # the size limit needs it (browsers and curl send it)
                raise RequestError("send the upload with a Content-Length header", 411)
            form = await request.form()
            upload, text = form.get("file"), form.get("text")
            item: Any = await upload.read() if isinstance(upload, UploadFile) else text
        elif kind.startswith("application/json"):
            raw = await body_of(request)
            try:
                item = json.loads(raw).get("text")
            except (ValueError, AttributeError):
                raise RequestError('the body must be JSON {"text": "..."}, or a multipart upload') from None
        else:
            body = await body_of(request)
            item = (body.decode("utf-8", "replace") if served.text else body) if body else None  # empty: say what
        if item is None or (isinstance(item, str) and not served.text):
            raise RequestError("send an image file as the multipart field \"file\"" if not served.text
                               else "send the text as the multipart or JSON field \"text\"")  # fmt: skip
        (scores,) = await outputs([item])
        return {"model": served.name, "predictions": served.top(scores)}

    @app.api_route("/healthz", methods=["GET", "HEAD"])  # HEAD: what some health checkers send
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.api_route("/readyz", methods=["GET", "HEAD"])
    async def readyz() -> JSONResponse:
        """Ready once the model is loaded and traced; with how many batches and inputs it has run."""
        if not state["ready"]:
            return JSONResponse({"status": "loading"}, status_code=503)
        batcher = state["batcher"]
        return JSONResponse({"status": "ready", "batches": batcher.batches, "inputs": batcher.inputs})

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
    async def page() -> str:
        return _page(served)

    return app


def _bucket_sizes(max_batch: int) -> list[int]:
    """The padded batch sizes: powers of two below ``max_batch``, and ``max_batch``.

    >>> _bucket_sizes(32), _bucket_sizes(12)
    ([1, 2, 4, 8, 16, 32], [1, 2, 4, 8, 12])
    """
    sizes = [1 << i for i in range(max_batch.bit_length()) if 1 << i < max_batch]
    return [*sizes, max_batch]


def _page(served: Served) -> str:
    """The web page, from the package, told the model's name and kind."""
    template = resources.files("zoo").joinpath("serve_page.html").read_text(encoding="utf-8")
    settings = json.dumps({"name": served.name, "text": served.text}).replace("<", "\\u003c")  # no </script> inside
    return template.replace("/*SETTINGS*/null", settings)


def serve(
    source: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
    name: str | None = None,
    max_batch: int = MAX_BATCH,
    max_wait_ms: float = MAX_WAIT_MS,
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> None:
    """Serve the finished run, or the SavedModel export, at ``source`` until SIGTERM or Ctrl-C (``zoo serve``): see
    :func:`make_app`.

    >>> serve("runs/demo/run", port=8501)  # doctest: +SKIP
    """
    import uvicorn

    name = check_options(source, name=name, max_batch=max_batch, max_wait_ms=max_wait_ms,
                         max_request_bytes=max_request_bytes)  # fmt: skip
    sock = _bound(host, port)  # before the model loads: a port in use is said at once
    port = sock.getsockname()[1]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    class Server(uvicorn.Server):  # type: ignore[misc]
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                await super().startup(sockets)  # the model warmed up (the app's lifespan), then listening
            except SystemExit:  # uvicorn's exit when the warm-up failed: its error instead, said once
                failed = getattr(app.state, "warm_up_failed", None)
                if failed is None:
                    raise
                raise failed from None
            if not self.should_exit:  # a stop asked for during the warm-up: never announced as serving
                console.say(f"serving {name} at {url} (POST /v1/models/{name}:predict); Ctrl-C stops")

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            """SIGTERM and SIGINT start the graceful shutdown (a second one forces it); unlike uvicorn's own, the
            signal is not raised again once the server stopped, so a drained server exits 0."""
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    with sock:
        app = make_app(source, name=name, max_batch=max_batch, max_wait_ms=max_wait_ms,
                       max_request_bytes=max_request_bytes)  # fmt: skip
        interrupts.check()  # Ctrl-C or SIGTERM while the model loaded: stop here, not once it serves
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=30)
        uvicorn_log = logging.getLogger("uvicorn.error")

        def unless_warm_up_failed(record: logging.LogRecord) -> bool:  # its traceback: Server.startup raises it
            return getattr(app.state, "warm_up_failed", None) is None

        uvicorn_log.addFilter(unless_warm_up_failed)
        try:
            Server(config).run(sockets=[sock])
        finally:
            uvicorn_log.removeFilter(unless_warm_up_failed)


def _warm_up_error(err: Exception, name: str, size: int, max_batch: int) -> Exception:
    """What ``zoo serve`` says of a warm-up that failed on a batch of ``size``: a zoo error as it is, running out of
    memory as a :class:`ConfigError` naming ``--max-batch``, anything else (a bug) as it is, with its traceback.

    >>> print(_warm_up_error(MemoryError("no room"), "run", size=64, max_batch=64))
    run ran out of memory warming up on a batch of 64 (no room): lower --max-batch (now 64)
    """
    if out_of_memory(err):
        return ConfigError(f"{name} ran out of memory warming up on a batch of {size} ({first_line(err)}): lower "
                           f"--max-batch (now {max_batch})")  # fmt: skip
    return err


# What to do when the address cannot be listened on, by the cause.
_LISTEN_HINTS = {
    errno.EADDRINUSE: "choose another --port",
    errno.EACCES: "choose a --port above 1023",
}


def _bound(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, so that the address is this process's alone while the model
    loads (bound alone, with SO_REUSEADDR, a second server could bind it too, and the first failed once warm); a
    client that connects meanwhile waits until uvicorn takes its connections. :class:`ConfigError` in one line if it
    cannot be."""
    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]  # fmt: skip
        sock = socket.socket(family, kind, proto)
        if os.name != "nt":  # as uvicorn does: a restart need not wait out TIME_WAIT (on Windows it would share ports)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
        return sock
    except OSError as err:
        if sock is not None:
            sock.close()
        reason = (err.strerror or str(err)).lower()
        hint = _LISTEN_HINTS.get(err.errno or 0, "give --host an address of this machine (127.0.0.1, or 0.0.0.0 for "
                                                 "every interface)")  # fmt: skip
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}; {hint}") from None
