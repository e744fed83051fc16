"""`python -m harness data`: where each data set was found, its counts, or how to get it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from . import glove, imdb, mnist, ptb_lm, ptb_pos
from .locations import DataMissingError


COLUMNS = ("data set", "status", "source", "train / valid / test", "vocabulary", "note")


def _counts(data: dict) -> str:
    return " / ".join(f"{len(data[s][-1]) if isinstance(data[s], tuple) else len(data[s]):,}" for s in ("train", "valid", "test"))


def data_rows(root: Optional[Path] = None) -> list[dict]:
    """One row per data set: name, status, source, counts (train / valid / test), vocabulary, note."""
    rows = []

    def row(name, module, describe):
        try:
            source = module.find_source(root) if hasattr(module, "find_source") else module.find_files(root)
            found = {"status": "OK", "source": _source(source), **describe()}
        except DataMissingError as error:
            problem = str(error).split("\n", 1)[0].split(": ", 1)[-1].rstrip(".")  # "not found", or what is wrong
            status = "MISSING" if problem == "not found" else "BROKEN"
            fix = str(error).split("To get it: ", 1)[-1]
            found = {"status": status, "note": fix if status == "MISSING" else f"{problem}; to get it again: {fix}"}
        rows.append({key: found.get(key, "") for key in COLUMNS} | {"data set": name})

    def describe_imdb():
        data = imdb.load_imdb(root)
        words, vectors = glove.load_glove(root)
        _, coverage = glove.embedding_matrix(data["vocab"], words, vectors, seed=0)
        return {"train / valid / test": _counts(data), "vocabulary": f"{len(data['vocab']):,}",
                "note": f"GloVe covers {coverage:.1%} of the vocabulary"}

    def describe_glove():
        words, vectors = glove.load_glove(root)
        return {"train / valid / test": "", "vocabulary": f"{len(words):,}", "note": f"vectors {vectors.shape}"}

    row("MNIST", mnist, lambda: {"train / valid / test": _counts(mnist.load_mnist(root)), "vocabulary": "",
                                 "note": "images 28 x 28, 10 classes"})
    row("IMDB", imdb, describe_imdb)
    row("GloVe 6B 50d", glove, describe_glove)
    row("PTB language model", ptb_lm, lambda: _lm(ptb_lm.load_ptb_lm(root)))
    row("PTB POS tagging", ptb_pos, lambda: _pos(ptb_pos.load_ptb_pos(root)))
    return rows


def _lm(data):
    return {"train / valid / test": _counts(data), "vocabulary": f"{len(data['vocab']):,}", "note": "tokens, <eos> per line"}


def _pos(data):
    tokens = sum(len(data[s][0].flat) for s in ("train", "valid", "test"))
    return {"train / valid / test": _counts(data), "vocabulary": f"{len(data['words']):,} words, {len(data['tags'])} tags",
            "note": f"sentences; {tokens:,} tokens without traces"}


def _source(source) -> str:
    """A found source as one path: the file, or the folder of a set of files."""
    paths = list(source.values()) if isinstance(source, dict) else list(source) if isinstance(source, (list, tuple)) else [source]
    return str(paths[0] if len(paths) == 1 else Path(paths[0]).parent)
