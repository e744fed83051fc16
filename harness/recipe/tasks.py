"""The task registry: one record per task (`TASKS`), and from a config the data, the model's shape,
its initial weights and the batches.

Everything the harness knows of a task is in its record: config validation, the command line,
bench, parity, the README and the tests read it. Adding a task means one record, one loader
(in data/) and one config. Everything a run gets is decided once, from the config's seed, and
handed to every twin alike.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np

from twin_contract import Batch, Feature, ModelSpec

from ..data import glove, imdb, mnist, ptb_lm, ptb_pos
from ..data.sequences import Sequences
from .fields import POSITIVE, ConfigError, Field
from .initialisation import initial_weights

GLOVE_SIZE = 50  # GloVe 6B 50d: model.embedding_size when the embedding is GloVe
# The language model's evaluation windows (one row, state carried): their length changes
# only the speed (longer windows call the twins less often), never which tokens are scored.
EVAL_WINDOW = 400


@dataclass
class TaskData:
    """What a run needs: the model's shape and initial weights, and batches per split.

    batches(split, epoch): the split's batches in order. For "train" the order is a
    permutation seeded by (seed, epoch); evaluation splits (epoch None) keep data order.
    """

    name: str
    spec: ModelSpec
    metric: str  # "accuracy" or "perplexity"
    carries_state: bool  # the language model carries its state from batch to batch
    weights: dict[str, np.ndarray]
    sizes: dict[str, int]  # examples (or tokens) per split
    batches: Callable[[str, Optional[int]], list[Batch]]
    notes: dict = field(default_factory=dict)


class BenchShape(NamedTuple):
    """The synthetic batches `make bench` times for a task, at its config's model size and batch."""

    vocab_size: Optional[int]  # None: float inputs (MNIST's rows of pixels)
    num_classes: int
    num_steps: Optional[int]  # time steps per batch; None: the config's data.num_steps


@dataclass(frozen=True)
class Task:
    """One task, all the harness knows of it.

    head: "pooled" (one label per sequence) or "per_step" (one per step); metric: "accuracy" or
    "perplexity"; carries_state: the LSTM state goes on from batch to batch (a continuous stream);
    predicts_next_token: a language model.
    data_fields: the keys of the config's data section. datasets: the data sets it reads that can be fetched
    (keys of data/sources.py; data/catalogue.py's ensure fetches those missing). prepare(config, data_root, quick) -> TaskData. parity: the small synthetic model and
    batch `make parity` checks (ModelSpec sizes, batch_size, num_steps, padding side or None).
    bench: the shape of the synthetic batches `make bench` times.
    """

    name: str
    title: str
    head: str
    metric: str
    carries_state: bool
    predicts_next_token: bool  # a language model: no backward direction (it would read the answer); one
                               # class per token (so the output layer can tie to the embedding)
    data_fields: dict[str, Field]
    datasets: tuple[str, ...]
    prepare: Callable[[dict, Optional[Path], bool], "TaskData"]
    parity: dict
    bench: BenchShape


def prepare_task(config: dict, data_root: Optional[Path] = None, quick: bool = False) -> TaskData:
    """Load the config's task: data (a small subset when quick), spec, weights, batches."""
    return TASKS[config["task"]].prepare(config, data_root, quick)


def model_spec(config: dict, input_size: int, num_classes: int, vocab_size: Optional[int] = None,
               features: tuple[Feature, ...] = ()) -> ModelSpec:
    """The model of the config's task and model section, for inputs of these sizes."""
    m = config["model"]
    return ModelSpec(head=TASKS[config["task"]].head, input_size=input_size, hidden_size=m["hidden_size"],
                     num_classes=num_classes, vocab_size=vocab_size, train_embedding=m["train_embedding"],
                     layers=m["layers"], bidirectional=m["bidirectional"], tie_embeddings=m["tie_embeddings"],
                     features=features, pooling=m["pooling"])


def _task_data(name: str, spec: ModelSpec, weights, sizes, batches, notes=None) -> TaskData:
    _check_sizes(name, sizes)
    task = TASKS[name]
    return TaskData(name, spec, task.metric, task.carries_state, weights, sizes, batches, notes or {})


def batch_digest(batches: list[Batch]) -> str:
    """A short hash of the batches' contents, in order: equal digests mean equal batch order."""
    digest = hashlib.sha256()
    for batch in batches:
        for array in batch:
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _rng(config: dict, *stream: int) -> np.random.Generator:
    return np.random.default_rng([config["seed"], *stream])


def _index_batches(n: int, training: dict, order: Optional[np.random.Generator]) -> list[np.ndarray]:
    """The examples' indices batch by batch: in data order, or (training) in the permutation `order`
    draws, its short last batch left out when training.drop_remainder says so."""
    batch_size = training["batch_size"]
    indices = np.arange(n) if order is None else order.permutation(n)
    if order is not None and training["drop_remainder"] and n > batch_size:
        indices = indices[: n - n % batch_size]
    return [indices[k : k + batch_size] for k in range(0, len(indices), batch_size)]


def _quick_subsets(config: dict, data: dict[str, tuple]) -> dict[str, tuple]:
    """Each split's (inputs, targets) cut to a seeded subset of the quick sizes."""
    subsets = {}
    for split, parts in data.items():
        n = len(parts[1])
        size = config["quick"]["train_size" if split == "train" else "eval_size"]
        idx = np.sort(_rng(config, 7).choice(n, size=min(size, n), replace=False))
        subsets[split] = tuple(p.subset(idx) if isinstance(p, Sequences) else p[idx] for p in parts)
    return subsets


def _prepare_mnist(config, data_root, quick):
    data = mnist.load(data_root, config["data"]["valid_size"], config["seed"])
    if quick:
        data = _quick_subsets(config, data)
    spec = model_spec(config, 28, 10)

    def batches(split, epoch):
        x, y = data[split]
        order = None if epoch is None else _rng(config, 1, epoch)
        return [Batch(x[idx], y[idx]) for idx in _index_batches(len(y), config["training"], order)]

    return _task_data("mnist", spec, _weights(config, spec), _sizes(data), batches)


def _prepare_sequences(config, data_root, quick, name, loaded, vocab, num_classes, features=()):
    """IMDB and POS: variable-length sequences, padded per batch, with masks.

    loaded: split -> (tokens, targets, then one id Sequences per word feature of `features`)."""
    if quick:
        loaded = _quick_subsets(config, loaded)
    embedding, notes = _embedding(config, vocab, data_root)
    head = TASKS[name].head
    spec = model_spec(config, config["model"]["embedding_size"], num_classes, len(vocab), features)
    side = config["data"]["padding"]
    # how long sequences are cut: IMDB's schema has these keys; POS keeps whole sentences
    cut = {key: config["data"][key] for key in ("max_len", "truncating") if key in config["data"]}

    def batches(split, epoch):
        tokens, targets, *feature_ids = loaded[split]
        order = None if epoch is None else _rng(config, 1, epoch)
        result = []
        for idx in _index_batches(len(tokens), config["training"], order):
            ids, mask = tokens.pad(idx, side, **cut)
            labels = targets[idx] if head == "pooled" else targets.pad(idx, side, **cut)[0].astype(np.int64)
            word_features = (np.stack([f.pad(idx, side, **cut)[0] for f in feature_ids], axis=-1).astype(np.int64)
                             if feature_ids else None)
            result.append(Batch(ids.astype(np.int64), labels, mask, word_features))
        return result

    sizes = {split: len(parts[0]) for split, parts in loaded.items()}
    return _task_data(name, spec, _weights(config, spec, embedding), sizes, batches, notes)


def _prepare_imdb(config, data_root, quick):
    d = config["data"]
    data = imdb.load(data_root, d["vocab_size"], d["valid_size"], config["seed"])
    loaded = {split: data[split] for split in ("train", "valid", "test")}
    return _prepare_sequences(config, data_root, quick, "imdb", loaded, data["vocab"], 2)


def _prepare_ptb_pos(config, data_root, quick):
    d = config["data"]
    extra = glove.load(data_root)[0][: d["glove_words"]] if d["glove_words"] else ()  # most frequent first
    data = ptb_pos.load(data_root, d["min_count"], d["lowercase"], extra, d["suffix_length"])
    # (words, tags, shapes, suffixes) per split: keep the features the config asks for
    chosen = [(d["word_shape"], Feature("shape", len(ptb_pos.SHAPES), d["feature_size"])),
              (d["suffix_length"] > 0, Feature("suffix", len(data["suffixes"]), d["feature_size"]))]
    keep = [0, 1] + [2 + k for k, (wanted, _) in enumerate(chosen) if wanted]
    loaded = {split: tuple(data[split][k] for k in keep) for split in ("train", "valid", "test")}
    features = tuple(feature for wanted, feature in chosen if wanted)
    return _prepare_sequences(config, data_root, quick, "ptb_pos", loaded, data["words"], len(data["tags"]), features)


def _prepare_ptb_lm(config, data_root, quick):
    data = ptb_lm.load(data_root)
    streams = {split: data[split] for split in ("train", "valid", "test")}
    if quick:
        q = config["quick"]
        streams = {s: a[: q["train_size" if s == "train" else "eval_size"]] for s, a in streams.items()}
    batch_size = config["training"]["batch_size"]
    if len(streams["train"]) // batch_size < 2:  # each of the batch_size rows needs an input and a target
        raise ConfigError(f"training.batch_size is {batch_size}, but the training stream has "
                          f"{len(streams['train']):,} tokens, too few for {batch_size} rows of 2 or more: use "
                          f"batch_size <= {len(streams['train']) // 2:,}")
    vocab = data["vocab"]
    embedding, notes = _embedding(config, vocab, data_root)
    spec = model_spec(config, config["model"]["embedding_size"], len(vocab), len(vocab))
    num_steps = config["data"]["num_steps"]

    def batches(split, epoch):
        """Training: batch_size parallel rows, num_steps per window. Evaluation: the whole stream, one row."""
        if epoch is None:
            windows = ptb_lm.stream_windows(streams[split], EVAL_WINDOW)
        else:
            windows = ptb_lm.lm_windows(streams[split], config["training"]["batch_size"], num_steps)
        return [Batch(x.astype(np.int64), y.astype(np.int64)) for x, y in windows]

    sizes = {split: len(a) for split, a in streams.items()}
    return _task_data("ptb_lm", spec, _weights(config, spec, embedding), sizes, batches, notes)


def _embedding(config: dict, vocab: list[str], data_root) -> tuple[Optional[np.ndarray], dict]:
    if config["model"]["embedding"] != "glove":
        return None, {}
    words, vectors = glove.load(data_root)
    matrix, coverage = glove.embedding_matrix(vocab, words, vectors, config["seed"], config["init"]["embedding_scale"])
    return matrix, {"glove_coverage": round(coverage, 4)}


def _weights(config: dict, spec: ModelSpec, embedding: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
    _check_memory(spec)
    return initial_weights(spec, config["init"], _rng(config, 0), embedding)


def _check_memory(spec: ModelSpec) -> None:
    """ConfigError, before anything is allocated, for a model whose weights alone (the harness's float64
    copy, the twin's and its gradients: 3 × 8 bytes each, a lower bound) do not fit in this machine's memory."""
    parameters = sum(int(np.prod(shape)) for shape in spec.weight_shapes().values())
    need, have = 3 * 8 * parameters, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > have:
        raise ConfigError(f"the model has {parameters:,} weights, which with their gradients need at least "
                          f"{need / 2**30:,.1f} GiB; this machine has {have / 2**30:,.1f} GiB: make model.hidden_size "
                          "(or the vocabulary) smaller")


def _check_sizes(name: str, sizes: dict[str, int]) -> None:
    """ConfigError for a split with nothing in it to train on or score."""
    for split, size in sizes.items():
        if size < (2 if TASKS[name].predicts_next_token else 1):
            raise ConfigError(f"the {split} split has {size} examples (tokens), too few to "
                              f"{'train on' if split == 'train' else 'score'}: give data.valid_size (or quick's "
                              "sizes) a larger value")


def _sizes(data: dict) -> dict[str, int]:
    return {split: len(pair[1]) for split, pair in data.items()}


TASKS = {task.name: task for task in (
    Task(name="mnist", title="MNIST (rows of pixels as a sequence)", head="pooled", metric="accuracy",
         carries_state=False, predicts_next_token=False,
         data_fields={"valid_size": Field(int, 5000, low=0)}, datasets=("mnist",), prepare=_prepare_mnist,
         parity=dict(input_size=7, hidden_size=6, num_classes=10, batch_size=4, num_steps=7, padding=None),
         bench=BenchShape(vocab_size=None, num_classes=10, num_steps=28)),
    Task(name="imdb", title="IMDB sentiment", head="pooled", metric="accuracy",
         carries_state=False, predicts_next_token=False,
         data_fields={"vocab_size": Field(int, 20000, low=3), "max_len": Field(int, 200, **POSITIVE),
                      "valid_size": Field(int, 2500, low=0), "padding": Field(str, "pre", choices=("pre", "post")),
                      # "pre": a review over max_len keeps its end
                      "truncating": Field(str, "post", choices=("pre", "post"))},
         datasets=("imdb",), prepare=_prepare_imdb,
         parity=dict(input_size=5, hidden_size=6, num_classes=2, vocab_size=23, train_embedding=False, batch_size=5,
                     num_steps=9, padding="pre"),
         bench=BenchShape(vocab_size=20000, num_classes=2, num_steps=200)),  # max_len tokens
    Task(name="ptb_lm", title="Penn Treebank language model", head="per_step", metric="perplexity",
         carries_state=True, predicts_next_token=True,
         data_fields={"num_steps": Field(int, 35, **POSITIVE)},
         datasets=(), prepare=_prepare_ptb_lm,  # the text comes with a Python package
         parity=dict(input_size=5, hidden_size=6, num_classes=19, vocab_size=19, batch_size=4, num_steps=8,
                     padding=None),
         bench=BenchShape(vocab_size=10000, num_classes=10000, num_steps=None)),  # the config's num_steps
    Task(name="ptb_pos", title="Penn Treebank POS tagging", head="per_step", metric="accuracy",
         carries_state=False, predicts_next_token=False,
         data_fields={"min_count": Field(int, 2, **POSITIVE), "lowercase": Field(bool, True),
                      "glove_words": Field(int, 0, low=0),  # the N most frequent GloVe words join the vocabulary
                      "padding": Field(str, "post", choices=("pre", "post")),
                      # word features, each with an embedding of feature_size concatenated to the word vector:
                      "word_shape": Field(bool, False),  # case and digits of the raw token (ptb_pos.SHAPES)
                      "suffix_length": Field(int, 0, low=0),  # the last N characters; 0 = no suffix feature
                      "feature_size": Field(int, 8, **POSITIVE)},
         datasets=("ptb_pos",), prepare=_prepare_ptb_pos,
         parity=dict(input_size=5, hidden_size=6, num_classes=7, vocab_size=23, batch_size=5, num_steps=9,
                     padding="post"),
         bench=BenchShape(vocab_size=4964, num_classes=45, num_steps=48)),  # about the longest sentence of a batch of 32
)}
