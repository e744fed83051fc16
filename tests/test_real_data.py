"""The real data sets against the published counts in the shared DATA.md.

Each test is skipped, with the reason, when its data set is not found.
"""

import hashlib
import gzip

import numpy as np
import pytest

from harness.data import glove, imdb, mnist, ptb_lm, ptb_pos
from harness.data.locations import DataMissingError

pytestmark = pytest.mark.real_data


def load_or_skip(loader, **options):
    try:
        return loader(**options)
    except DataMissingError as error:
        pytest.skip(str(error).splitlines()[0])


def test_mnist_counts_and_checksums():
    data = load_or_skip(mnist.load, valid_size=0)
    assert len(data["train"][1]) == 60000 and len(data["test"][1]) == 10000
    assert np.bincount(data["train"][1]).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    files = mnist.find()
    md5 = {key: hashlib.md5(gzip.open(p).read() if p.suffix == ".gz" else p.read_bytes()).hexdigest()
           for key, p in files.items()}
    assert md5 == {
        "train_images": "6bbc9ace898e44ae57da46a324031adb",
        "train_labels": "a25bea736e30d166cdddb491f175f624",
        "test_images": "2646ac647ad5339dbf082846283269ea",
        "test_labels": "27ae3e4e09519cfbb04c329615203637",
    }


def test_imdb_counts():
    data = load_or_skip(imdb.load, valid_size=2500)
    train_labels = np.concatenate([data["train"][1], data["valid"][1]])
    assert np.bincount(train_labels).tolist() == [12500, 12500]
    assert np.bincount(data["test"][1]).tolist() == [12500, 12500]
    assert np.bincount(data["valid"][1]).tolist() == [1250, 1250]


def test_glove_shape():
    words, vectors = load_or_skip(glove.load)
    assert vectors.shape == (400000, 50) and len(words) == 400000
    assert words[0] == "the"


def test_ptb_lm_counts():
    data = load_or_skip(ptb_lm.load)
    assert [len(data[s]) for s in ("train", "valid", "test")] == [929589, 73760, 82430]
    assert len(data["vocab"]) == 10000 and "<unk>" in data["vocab"]


def test_ptb_pos_counts():
    data = load_or_skip(ptb_pos.load)
    splits = [data[s] for s in ("train", "valid", "test")]
    assert sum(len(words) for words, *_ in splits) == 3914
    assert sum(len(words.flat) for words, *_ in splits) == 94084
    assert len(data["tags"]) == 45 and "-NONE-" not in data["tags"]
