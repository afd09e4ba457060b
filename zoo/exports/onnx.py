"""The ONNX writer: tf2onnx with the least memory it can, the weights kept inside the one file, checked
against Keras."""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ExportError, first_line
from zoo.exports.formats import ARTEFACTS
from zoo.exports.metadata import exported_by
from zoo.exports.parity import parity
from zoo.exports.runtimes import run_onnx

if TYPE_CHECKING:
    from zoo.exports.job import Job

TF_CALLS = ("StatefulPartitionedCall", "PartitionedCall")  # TensorFlow function calls, no ONNX op


def write_onnx(job: Job, folder: Path) -> dict[str, Any]:
    """Write the ONNX file of ``job`` into ``folder``; its details for metadata.json (parity)."""
    import onnx

    path = folder / ARTEFACTS["onnx"]
    try:
        graph = _onnx_graph(job)
    except ExportError:
        raise
    except Exception as err:  # tf2onnx raises many types; the first line says which op
        raise ExportError(f"{job.src.name} cannot be converted to ONNX: {first_line(err)}") from err
    _name_onnx_output(graph, job.src.output_name)
    for key, value in {"labels": json.dumps(list(job.src.labels)), "exported_by": exported_by()}.items():
        graph.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
    del graph
    gc.collect()  # the converter's graphs hold reference cycles: free them before the parity check runs
    details: dict[str, Any] = {}
    if job.check:
        details["parity"] = parity(job, lambda x: run_onnx(path, x))
    return details


def _onnx_graph(job: Job) -> Any:
    """The served model as an ONNX ``ModelProto``, converted by tf2onnx with the least memory it can.

    Keras' ``model.export(format="onnx")`` took 7.6 GB for ResNet50 (100 MB of weights). tf2onnx's default
    path freezes the graph into one ``GraphDef`` and runs Grappler on it (2.9 GB at its peak), then
    runs its ONNX optimizers, deep-copying the graph before each pass (24 passes) and rewriting every
    node's proto after it, which under protobuf's upb runtime leaves a copy of every weight behind each
    time (see :func:`_fresh_node_protos`). Its ``large_model`` path keeps the weights out of the
    ``GraphDef`` (no Grappler, no deep copies) and returns them beside the graph; with fresh node protos
    the conversion peaks at 1.5 GB, the whole export (parity check included) at 1.7 GB. The weights go
    back into the graph here, so the artefact stays one file.
    """
    import tensorflow as tf
    import tf2onnx

    with contextlib.suppress(ImportError):  # Keras' numpy 2 fixes for tf2onnx 1.17 (np.object, np.product)
        from keras.src.export.tf2onnx_lib import patch_tf2onnx

        patch_tf2onnx()
    model, spec = job.served, job.input_spec(any_size=False)

    @tf.function(input_signature=[spec], autograph=False)  # type: ignore[untyped-decorator]
    def serve(images: Any) -> Any:
        return model(tf.cast(images, tf.float32), training=False)

    with _fresh_node_protos():
        graph, storage = tf2onnx.convert.from_function(serve, [spec], large_model=True)
    calls = [node.name for node in graph.graph.node if node.op_type in TF_CALLS]
    if calls:  # a layer traced as a function of its own (keras-hub's MobileNet): tf2onnx keeps the call
        layer = calls[0].rsplit("/", 1)[0]
        raise ExportError(
            f"{job.src.name} cannot be converted to ONNX: tf2onnx leaves {len(calls)} TensorFlow function "
            f"calls that ONNX has no op for (the first in {layer}); export it as savedmodel or tflite"
        )
    _inline_external_tensors(graph, storage.name_to_tensor_data if storage is not None else {})
    return graph


def _name_onnx_output(graph: Any, name: str) -> None:
    """Name the graph's input dimension ``batch`` and its output ``name`` (tf2onnx calls it ``Identity:0``)."""
    old = graph.graph.output[0].name
    for node in graph.graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
        node.input[:] = [name if i == old else i for i in node.input]
    graph.graph.output[0].name = name
    for value in (graph.graph.input[0], graph.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"


@contextlib.contextmanager
def _fresh_node_protos() -> Iterator[None]:
    """Let tf2onnx free each node's old proto when it rewrites it.

    tf2onnx (1.17) rewrites every node's ``NodeProto`` in place after each optimizer pass
    (``Node.update_proto``: ``del attribute[:]``, then ``extend``). Under protobuf's upb runtime
    (protobuf >= 4, the default) a message's arena gives nothing back until the whole message goes,
    so each pass left one more copy of every weight behind: about 90 MB per pass for ResNet50, 24
    passes. Giving the node a new proto before each rewrite lets the old one, and its arena, go.
    Where tf2onnx's ``Node`` is not as expected, nothing is changed (the conversion only costs more).
    """
    try:
        from tf2onnx.graph import Node

        original = Node.update_proto
    except (ImportError, AttributeError):
        original = None

    def update_proto(self: Any, *args: Any, **kwargs: Any) -> Any:
        old = getattr(self, "_op", None)
        if old is not None:
            fresh = type(old)()
            for field, value in old.ListFields():
                if field.name == "attribute":  # the rewrite sets them all again
                    continue
                if field.is_repeated:
                    getattr(fresh, field.name).extend(value)
                elif field.message_type is not None:
                    getattr(fresh, field.name).CopyFrom(value)
                else:
                    setattr(fresh, field.name, value)
            self._op = fresh
        return original(self, *args, **kwargs)

    if original is None:
        yield
        return
    Node.update_proto = update_proto
    try:
        yield
    finally:
        Node.update_proto = original


def _inline_external_tensors(graph: Any, data: dict[str, bytes]) -> None:
    """Put the weights tf2onnx's ``large_model`` path kept beside ``graph`` back into it (one file to ship)."""
    import onnx

    def tensors(g: Any) -> Iterator[Any]:
        yield from g.initializer
        for node in g.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                if attribute.HasField("g"):
                    yield from tensors(attribute.g)
                for sub in attribute.graphs:
                    yield from tensors(sub)

    for tensor in tensors(graph.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {entry.key: entry.value for entry in tensor.external_data}.get("location")
        if location not in data:
            raise ExportError(f"tf2onnx left the tensor {tensor.name} outside the graph without its data")
        tensor.raw_data = data.pop(location)
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
