"""Fixtures shared by the test modules: tiny data sets in the upstream formats, a small config, an LSTM problem.

Each fixture hands out a builder function, so a test writes what it needs where it needs it.
"""

import gzip
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness import paths
from harness.recipe.config import config_path, resolve_config
from harness.training.request import run_request
from harness.training.run import run_and_write

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _write_idx(path: Path, array: np.ndarray, compress=True):
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _make_mnist(root: Path, compress=True):
    rng = np.random.default_rng(0)
    labels = {"train": np.repeat(np.arange(10), 4), "t10k": np.arange(10)}
    for prefix, y in labels.items():
        _write_idx(root / "mnist" / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (len(y), 28, 28)), compress)
        _write_idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte", y, compress)
    return labels


REVIEWS = {
    ("train", "pos"): ["A great film!<br /><br />Great acting.", "Loved it, great great", "fine, don't miss"],
    ("train", "neg"): ["Awful. Just awful.", "boring film<br />bad", "bad bad acting"],
    ("test", "pos"): ["great surprise", "wonderful"],
    ("test", "neg"): ["awful zebra", "bad"],
}


def _make_imdb(root: Path, as_archive: bool) -> Path:
    files = {}
    for (split, polarity), texts in REVIEWS.items():
        for k, text in enumerate(texts):
            rating = 9 if polarity == "pos" else 2
            files[f"aclImdb/{split}/{polarity}/{k}_{rating}.txt"] = text.encode()
    files["aclImdb/README"] = b"readme"
    if as_archive:
        path = root / "aclImdb_v1.tar.gz"
        with tarfile.open(path, "w:gz") as archive:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return path
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root / "aclImdb"


def _make_ptb(root: Path):
    (root / "ptb.train.txt").write_text(" the cat sat \n the dog sat \n a cat ran \n\n", encoding="utf-8")
    (root / "ptb.valid.txt").write_text(" the cat ran \n", encoding="utf-8")
    (root / "ptb.test.txt").write_text(" a dog sat \n", encoding="utf-8")


MRG = "( (S (NP-SBJ (NNP {w}) ) (VP (VBD sat) (-NONE- *T*-1) ) (. .) ))\n"


def _make_treebank(root: Path, files: int = 10) -> Path:
    combined = root / "nltk_data" / "corpora" / "treebank" / "combined"
    combined.mkdir(parents=True)
    for k in range(1, files + 1):
        word = "Pierre" if k <= 8 else f"Name{k}"
        (combined / f"wsj_{k:04d}.mrg").write_text(MRG.format(w=word) + MRG.format(w="Vinken"), encoding="utf-8")
    return combined.parent


def _small_config(task="mnist", **training):
    raw = yaml.safe_load(config_path(task).read_text())
    raw["data"]["valid_size"] = 10 if task == "mnist" else 2
    if task == "imdb":
        raw["data"]["vocab_size"] = 12
        raw["model"]["embedding"] = "random"
    raw["model"]["hidden_size"] = 8
    raw["training"].update({"batch_size": 8, **training})
    return resolve_config(raw, "test")


def _random_mask(rng, N, T, padding):
    """(N, T) bool with at least one real step per row, padded on the given side ("pre", "post", "holes")."""
    lengths = rng.integers(1, T + 1, size=N)
    steps = np.arange(T)[None, :]
    if padding == "post":
        return steps < lengths[:, None]
    if padding == "pre":
        return steps >= T - lengths[:, None]
    mask = rng.random((N, T)) < 0.6  # holes anywhere
    mask[:, 0] = True
    return mask


def _lstm_problem(rng, N, T, D, H, padding, with_state):
    """Random x, weights (N(0, 0.5²)), initial state (zeros without), mask and upstream gradients of an LSTM."""
    x = rng.standard_normal((N, T, D))
    Wx, Wh, b = (0.5 * rng.standard_normal(s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)])
    h0, c0 = (rng.standard_normal((N, H)) if with_state else np.zeros((N, H)) for _ in range(2))
    mask = None if padding is None else _random_mask(rng, N, T, padding)
    upstream = rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    return x, Wx, Wh, b, h0, c0, mask, upstream


@pytest.fixture(name="write_idx")
def write_idx_fixture():
    """write_idx(path, array, compress=True): an IDX file (gzip by default)."""
    return _write_idx


@pytest.fixture(name="make_mnist")
def make_mnist_fixture():
    """make_mnist(root, compress=True): the four MNIST files, 40 train and 10 test images."""
    return _make_mnist


@pytest.fixture(name="make_imdb")
def make_imdb_fixture():
    """make_imdb(root, as_archive): a tiny aclImdb, as the archive or the folder."""
    return _make_imdb


@pytest.fixture(name="make_ptb")
def make_ptb_fixture():
    """make_ptb(root): tiny ptb.{train,valid,test}.txt."""
    return _make_ptb


@pytest.fixture(name="make_treebank")
def make_treebank_fixture():
    """make_treebank(root, files=10): a tiny NLTK treebank folder."""
    return _make_treebank


@pytest.fixture(name="small_config")
def small_config_fixture():
    """small_config(task="mnist", **training): the task's config, shrunk to the tiny data."""
    return _small_config


@pytest.fixture(name="random_mask")
def random_mask_fixture():
    """random_mask(rng, N, T, padding): a padding mask ("pre", "post" or "holes")."""
    return _random_mask


@pytest.fixture(name="lstm_problem")
def lstm_problem_fixture():
    """lstm_problem(rng, N, T, D, H, padding, with_state): inputs, weights, state, mask, gradients."""
    return _lstm_problem


def _run_twin(twin, config, config_file, epochs=None, quick=False, data_root=None, progress=False, resume=False):
    return run_and_write(run_request(config_file, config, twin, epochs=epochs, quick=quick, resume=resume,
                                     data_dir=data_root), progress)


@pytest.fixture(name="run_twin")
def run_twin_fixture():
    """run_twin(twin, config, config_file, epochs=None, quick=False, data_root=None, progress=False, resume=False):
    the run as `train` makes it (its request built, run, its JSON written); its record."""
    return _run_twin


def _flat(text: str) -> str:
    return re.sub(r" +", " ", text)


def _cli(*args, env_root=None, results_dir=None, extra=None):
    env = {**os.environ, **(extra or {})}
    if env_root is not None:
        env["LSTM_TWINS_DATA"] = str(env_root)
    if results_dir is not None:
        env["LSTM_TWINS_RESULTS"] = str(results_dir)
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env)


@pytest.fixture(name="flat")
def flat_fixture():
    """flat(text): a Markdown text with its table cells unpadded: "| NumPy | 3 |" whatever the column widths."""
    return _flat


@pytest.fixture(name="cli")
def cli_fixture():
    """cli(*args, env_root=None, results_dir=None, extra=None): `python -m harness ARGS` in a fresh process, with
    the data folder, the results folder and other variables set; the CompletedProcess (text)."""
    return _cli


@pytest.fixture
def data_root(tmp_path, monkeypatch, make_imdb, make_mnist):
    """Tiny MNIST and IMDB in upstream formats, a private cache, and results in tmp_path."""
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    root = tmp_path / "data"
    make_mnist(root)
    make_imdb(root, as_archive=True)
    return root


@pytest.fixture
def env(tmp_path, monkeypatch, make_mnist, small_config):
    """Tiny MNIST; data, cache and results folders in tmp_path, also for subprocesses."""
    make_mnist(tmp_path / "data")
    variables = {"LSTM_TWINS_DATA": str(tmp_path / "data"), "LSTM_TWINS_CACHE": str(tmp_path / "cache"),
                 "LSTM_TWINS_RESULTS": str(tmp_path / "results")}
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    config = small_config(epochs=3)
    config_file = tmp_path / "tiny.yaml"  # no project config has this name: its runs go to results/tiny/
    config_file.write_text(yaml.safe_dump(config))
    return {"config": config, "config_file": config_file, "results": tmp_path / "results", **variables}
