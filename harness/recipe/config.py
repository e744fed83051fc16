"""Task configs (configs/<task>.yaml): loaded, checked against a schema, and resolved with defaults.

Every error names the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Optional

import yaml

from twin_contract import POOLINGS

from .. import paths
from .fields import POSITIVE, ConfigError, Field
from .tasks import GLOVE_SIZE, TASKS

SECTIONS = {
    "model": {
        "hidden_size": Field(int, None, **POSITIVE),
        "layers": Field(int, 1, **POSITIVE),  # stacked LSTMs, each of hidden_size units per direction
        "bidirectional": Field(bool, False),  # each layer also reads the real steps backwards (not for ptb_lm)
        # Zaremba et al.'s non-recurrent dropout on each layer's input and the output layer's; 0 = off
        "dropout": Field(float, 0.0, low=0.0, below=1.0),
        "embedding": Field(str, "none", choices=("none", "glove", "random")),
        "embedding_size": Field(int, GLOVE_SIZE, **POSITIVE),  # GloVe's 50 with embedding: glove
        "train_embedding": Field(bool, False),
        "tie_embeddings": Field(bool, False),  # the output layer's kernel is the embedding's transpose (ptb_lm)
        "pooling": Field(str, "mean", choices=POOLINGS),  # the pooled head's summary of the real steps, per unit
    },
    "init": {
        "scheme": Field(str, "scaled_normal", choices=("scaled_normal", "keras")),
        "lstm_scale": Field(float, 0.1, low=0.0),
        "dense_scale": Field(float, 1.0, low=0.0),
        "embedding_scale": Field(float, 0.1, low=0.0),
    },
    "training": {
        "epochs": Field(int, None, **POSITIVE),
        "batch_size": Field(int, None, **POSITIVE),
        # each epoch's last, short training batch (what batch_size leaves over) is left out of that epoch;
        # the next epoch's permutation leaves out others (tf.data's drop_remainder)
        "drop_remainder": Field(bool, False),
        "lr0": Field(float, None, above=0.0),  # a rate of 0 trains nothing
        "decay": Field(float, 0.0, low=0.0),
        "clip_norm": Field(float, None, above=0.0, optional=True),  # null = no clipping
        # null = off; else an epoch that does not improve the valid plateau_metric is undone and lr0 scaled by this
        "plateau_factor": Field(float, None, above=0.0, below=1.0, optional=True),
        # what an epoch must improve on the valid split to be kept: a lower loss, or a higher accuracy
        "plateau_metric": Field(str, "loss", choices=("loss", "accuracy")),
        "dtype": Field(str, "float32", choices=("float32", "float64")),
        "max_grad_norm": Field(float, None, above=0.0, optional=True),  # divergence guard; null = NaN/Inf only
    },
    "quick": {
        "epochs": Field(int, 1, **POSITIVE),
        "train_size": Field(int, 2000, **POSITIVE),
        "eval_size": Field(int, 1000, **POSITIVE),
    },
}
TOP_LEVEL = {"task": Field(str, None, choices=tuple(TASKS)), "seed": Field(int, 0, low=0)}


def config_path(task: str) -> Path:
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    return paths.CONFIG_DIR / f"{task}.yaml"


def load_config(path: Path | str) -> dict:
    """The validated config, every default filled in: {"task", "seed", "data", "model", ...}."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start}); "
                          "save it as UTF-8") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML ({str(error).splitlines()[0]})") from None
    return resolve_config(raw, str(path))


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (first on line {seen[key] + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


# YAML 1.1 reads 1e-3 (an exponent without a dot) as a string: read it as the number a user means
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
    r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"), list("-+0123456789."))


def resolve_config(raw, source: str = "config") -> dict:
    """Check `raw` (parsed YAML) against the schema; `source` names it in errors."""
    if raw is None:
        raise ConfigError(f"{source}: the file is empty; expected a mapping of sections (see configs/mnist.yaml)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    task = TOP_LEVEL["task"].check(f"{source}: task", raw.get("task"))
    schema = {**SECTIONS, "data": TASKS[task].data_fields}
    unknown = [k for k in raw if k not in TOP_LEVEL and k not in schema]
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; expected keys {list(TOP_LEVEL) + list(schema)}")
    config = {"task": task, "seed": TOP_LEVEL["seed"].check(f"{source}: seed", raw.get("seed", 0))}
    for section, fields in schema.items():
        given = raw.get(section, {})
        if given is None:
            given = {}
        if not isinstance(given, dict):
            raise ConfigError(f"{source}: {section} is {given!r}; expected a mapping")
        unknown = [k for k in given if k not in fields]
        if unknown:
            raise ConfigError(f"{source}: unknown key {section}.{unknown[0]}; expected one of {list(fields)}")
        config[section] = {}
        for key, field in fields.items():
            where = f"{source}: {section}.{key}"
            if key not in given and field.default is None and not field.optional:
                raise ConfigError(f"{where} is missing; expected {field._describe()}")
            config[section][key] = field.check(where, given.get(key, field.default))
    _check_model(config["model"], TASKS[task], source)
    _check_training(config["training"], TASKS[task], source)
    return config


def _check_model(model: dict, task, source: str) -> None:
    """The model section's combinations that no model can have, as one-line errors."""
    if model["embedding"] == "none" and task.name != "mnist":
        raise ConfigError(f"{source}: model.embedding is 'none'; task {task.name} reads tokens, use 'glove' or 'random'")
    if model["embedding"] != "none" and task.name == "mnist":
        raise ConfigError(f"{source}: model.embedding is {model['embedding']!r}; mnist reads pixel rows, use 'none'")
    if model["embedding"] == "glove" and model["embedding_size"] != GLOVE_SIZE:
        raise ConfigError(f"{source}: model.embedding_size is {model['embedding_size']}; GloVe vectors have "
                          f"{GLOVE_SIZE}, use {GLOVE_SIZE} or embedding: random")
    if model["bidirectional"] and task.predicts_next_token:
        raise ConfigError(f"{source}: model.bidirectional is true; task {task.name} predicts the next token, which a "
                          "backward direction would read: use bidirectional: false")
    if model["pooling"] != "mean" and task.head != "pooled":
        raise ConfigError(f"{source}: model.pooling is {model['pooling']!r}; task {task.name} labels every step, "
                          "so nothing is pooled: use pooling: mean (the default)")
    if model["tie_embeddings"]:
        width = model["hidden_size"] * (2 if model["bidirectional"] else 1)
        if not task.predicts_next_token:
            raise ConfigError(f"{source}: model.tie_embeddings is true; task {task.name} does not predict tokens, "
                              "so its output layer has no embedding to share: use tie_embeddings: false")
        if not model["train_embedding"]:
            raise ConfigError(f"{source}: model.tie_embeddings is true with train_embedding false; the tied output "
                              "layer trains the embedding: set train_embedding: true")
        if width != model["embedding_size"]:
            raise ConfigError(f"{source}: model.tie_embeddings needs the last layer's output size to equal "
                              f"model.embedding_size ({width} vs {model['embedding_size']}): set hidden_size to "
                              f"{model['embedding_size']} or embedding_size to {width}")


def _check_training(training: dict, task, source: str) -> None:
    """The training section's settings that the task cannot have, as one-line errors."""
    if training["drop_remainder"] and task.carries_state:
        raise ConfigError(f"{source}: training.drop_remainder is true; task {task.name} trains on windows of one "
                          "stream, every one of batch_size rows: use drop_remainder: false (the default)")


def effective_config(config: dict, epochs: Optional[int], quick: bool) -> dict:
    """The config of a run: training.epochs set to what it trains (the override, else quick.epochs for a
    smoke run, else the config's own)."""
    epochs = epochs or (config["quick"]["epochs"] if quick else config["training"]["epochs"])
    return {**config, "training": {**config["training"], "epochs": epochs}}


def settings_digest(config: dict, quick: bool = False) -> str:
    """What a run computes, the seed and the twin aside: runs with equal digests may be averaged.

    A resolved config (with the epochs the run trains) is reduced to the keys whose value differs
    from the schema's default, so that adding a key with a default leaves earlier runs' digests as
    they were; the quick section counts only for quick runs (it decides their data).
    """
    return _digest(_canonical(config, quick))


def file_digest(path: Path | str, quick: bool = False) -> str:
    """The settings digest of the runs of a config file as it is (no override)."""
    return settings_digest(effective_config(load_config(path), None, quick), quick)


def run_digest(config: dict, quick: bool = False) -> str:
    """settings_digest and the seed: the identity of one run, shared by both twins of that seed."""
    return _digest({**_canonical(config, quick), "seed": config["seed"]})


def continues(config: dict, earlier: dict) -> bool:
    """Whether a run of `config` may resume one of `earlier`: the same settings and seed, no more epochs."""
    shorter = {**config, "training": {**config["training"], "epochs": earlier["training"]["epochs"]}}
    return earlier["training"]["epochs"] <= config["training"]["epochs"] and run_digest(shorter, True) == run_digest(
        earlier, True)


def _canonical(config: dict, quick: bool) -> dict:
    schema = {**SECTIONS, "data": TASKS[config["task"]].data_fields}
    canonical = {"task": config["task"], "quick": quick}
    for section, fields in schema.items():
        if section == "quick" and not quick:
            continue
        given = config.get(section, {})
        canonical[section] = {key: given[key] for key in sorted(given)
                              if key not in fields or given[key] != fields[key].default}
    return canonical


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
