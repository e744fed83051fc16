"""Data loaders on small files the tests write in the upstream formats."""

import gzip
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness.data import cache, glove, imdb, mnist, ptb_lm, ptb_pos
from harness.data.locations import DataMissingError
from harness.data.sequences import Sequences
from harness.data.splits import stratified_split


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))


# --- MNIST -----------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_reads_idx_and_splits_stratified(tmp_path, compress, make_mnist):
    make_mnist(tmp_path, compress)
    data = mnist.load(tmp_path, valid_size=10, seed=3)
    x, y = data["train"]
    assert x.shape == (30, 28, 28) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    assert np.bincount(data["valid"][1]).tolist() == [1] * 10  # one of each class
    assert len(data["test"][1]) == 10
    raw = mnist.read_idx(next((tmp_path / "mnist").glob("t10k-images*")))
    np.testing.assert_allclose(data["test"][0], raw / 255.0, rtol=1e-6)


def test_mnist_missing_names_places_and_fix(tmp_path):
    with pytest.raises(DataMissingError) as error:
        mnist.load(tmp_path)
    message = str(error.value)
    assert message.startswith("MNIST: not found")
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert "To get it: `make data DOWNLOAD=1`" in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz (md5:ec29112d" in message


def test_mnist_corrupt_file_is_a_clear_error(tmp_path, make_mnist):
    make_mnist(tmp_path)
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (40).to_bytes(4, "big") + b"\x01" * 12))
    with pytest.raises(DataMissingError, match="header says"):
        mnist.load(tmp_path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataMissingError, match="cannot read .*/train-labels"):
        mnist.load(tmp_path)


# --- IMDB ------------------------------------------------------------------


def test_imdb_tokenizer_strips_tags_and_punctuation():
    assert imdb.tokenize("A great film!<br /><br />Don't miss it... 10/10") == [
        "a", "great", "film", "don't", "miss", "it", "10", "10"
    ]


@pytest.mark.parametrize("as_archive", [True, False])
def test_imdb_splits_and_vocabulary(tmp_path, as_archive, make_imdb):
    make_imdb(tmp_path, as_archive)
    data = imdb.load(tmp_path, vocab_size=6, valid_size=2, seed=0)
    assert len(data["train"][1]) == 4 and len(data["valid"][1]) == 2 and len(data["test"][1]) == 4
    assert sorted(data["valid"][1].tolist()) == [0, 1]  # stratified
    assert data["vocab"][:2] == ["<pad>", "<unk>"] and len(data["vocab"]) == 6
    # the vocabulary counts only the training part: 'wonderful' and 'zebra' (test only) are unknown
    assert "wonderful" not in data["vocab"] and "zebra" not in data["vocab"]
    test_ids = data["test"][0].flat
    assert (test_ids == 1).any()
    assert 0 not in data["train"][0].flat, "<pad> never appears inside a review"


def test_imdb_archive_and_folder_agree(tmp_path, make_imdb):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    make_imdb(tmp_path / "a", as_archive=True)
    make_imdb(tmp_path / "b", as_archive=False)
    a, b = imdb.load(tmp_path / "a", 10, 2), imdb.load(tmp_path / "b", 10, 2)
    assert a["vocab"] == b["vocab"]
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(a[split][0].flat, b[split][0].flat)
        np.testing.assert_array_equal(a[split][1], b[split][1])


def test_imdb_corrupt_archive(tmp_path):
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataMissingError, match="IMDB: cannot read .*/aclImdb_v1.tar.gz"):
        imdb.load(tmp_path)


# --- GloVe -----------------------------------------------------------------


def test_glove_text_and_embedding_matrix(tmp_path):
    (tmp_path / "glove.6B.50d.txt").write_text("the 0.1 0.2 0.3\nfilm -1 0 1\n", encoding="utf-8")
    words, vectors = glove.load(tmp_path)
    assert words == ["the", "film"] and vectors.shape == (2, 3)
    matrix, coverage = glove.embedding_matrix(["<pad>", "<unk>", "film", "zebra"], words, vectors, seed=1)
    np.testing.assert_array_equal(matrix[0], 0)
    np.testing.assert_array_equal(matrix[2], [-1, 0, 1])
    assert coverage == pytest.approx(1 / 3)
    again, _ = glove.embedding_matrix(["<pad>", "<unk>", "film", "zebra"], words, vectors, seed=1)
    np.testing.assert_array_equal(matrix, again)  # seeded
    assert 0 < np.abs(matrix[3]).max() < 1


# --- PTB language model ----------------------------------------------------


def test_ptb_lm_reads_files_with_eos_and_frequency_vocabulary(tmp_path, make_ptb):
    make_ptb(tmp_path)
    data = ptb_lm.load(tmp_path)
    assert data["vocab"][:4] == ["<eos>", "cat", "sat", "the"]  # by count, ties alphabetical
    assert len(data["train"]) == 12  # 9 words + 3 <eos>, the empty line skipped
    words = [data["vocab"][k] for k in data["valid"]]
    assert words == ["the", "cat", "ran", "<eos>"]


def test_ptb_lm_rejects_words_outside_training_vocabulary(tmp_path, make_ptb):
    make_ptb(tmp_path)
    (tmp_path / "ptb.test.txt").write_text(" a zebra sat \n", encoding="utf-8")
    with pytest.raises(DataMissingError, match=r"test has words outside the training vocabulary: \['zebra'\]"):
        ptb_lm.load(tmp_path)


@pytest.mark.parametrize("batch_size, num_steps", [(3, 4), (2, 5), (4, 1)])
def test_lm_windows_target_is_next_token_across_boundaries(batch_size, num_steps):
    stream = np.arange(47)
    windows = list(ptb_lm.lm_windows(stream, batch_size, num_steps))
    row_len = len(stream) // batch_size
    assert len(windows) == -(-(row_len - 1) // num_steps)  # ceil((row_len - 1) / num_steps)
    for r in range(batch_size):
        inputs = np.concatenate([x[r] for x, _ in windows])
        targets = np.concatenate([y[r] for _, y in windows])
        # row r is a contiguous piece of the stream, continued from window to window
        np.testing.assert_array_equal(inputs, stream[r * row_len : (r + 1) * row_len - 1])
        np.testing.assert_array_equal(targets, inputs + 1)  # the next token of the stream


# --- PTB POS tagging -------------------------------------------------------


def test_ptb_pos_split_by_file_drops_traces(tmp_path, make_treebank):
    make_treebank(tmp_path)
    data = ptb_pos.load(tmp_path, min_count=2)
    assert [len(data[s][0]) for s in ("train", "valid", "test")] == [16, 2, 2]  # 8 / 1 / 1 files, 2 sentences each
    assert data["tags"] == [".", "NNP", "VBD"]  # -NONE- dropped
    assert set(data["train"][0].lengths) == {3}
    assert "pierre" in data["words"] and "name9" not in data["words"]
    valid_words = [data["words"][k] for k in data["valid"][0].flat]
    assert valid_words[0] == "<unk>"  # Name9 is unseen in training


@pytest.mark.parametrize("word, shape", [
    ("the", "lower"), ("Pierre", "Capitalised"), ("I", "Capitalised"), ("IBM", "UPPER"), ("-LRB-", "UPPER"),
    ("McDonald", "miXed"), ("1.5", "number"), ("3,000", "number"), ("10-year", "alphanumeric"),
    ("Name9", "alphanumeric"), (",", "punctuation"), ("--", "punctuation")])
def test_word_shapes(word, shape):
    assert ptb_pos.SHAPES[ptb_pos.word_shape(word)] == shape


def test_ptb_pos_word_features_come_from_the_raw_tokens(tmp_path, monkeypatch, make_treebank):
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    make_treebank(tmp_path)
    plain = ptb_pos.load(tmp_path, min_count=2)
    data = ptb_pos.load(tmp_path, min_count=2, suffix_length=2)
    assert plain["suffixes"] == ["<pad>", "<unk>"]  # no suffix feature asked for
    assert data["suffixes"] == ["<pad>", "<unk>", ".", "at", "en", "re"]  # ".", s-at, vink-en, pier-re
    words, tags, shapes, suffixes = data["valid"]  # "Name9 sat ." and "Vinken sat ."
    np.testing.assert_array_equal(shapes.offsets, words.offsets)
    assert [ptb_pos.SHAPES[k] for k in shapes[0]] == ["alphanumeric", "lower", "punctuation"]  # before lowercasing
    assert [ptb_pos.SHAPES[k] for k in shapes[1]] == ["Capitalised", "lower", "punctuation"]
    assert [data["suffixes"][k] for k in suffixes[0]] == ["<unk>", "at", "."]  # "e9" unseen in training
    np.testing.assert_array_equal(data["train"][0].flat, plain["train"][0].flat)  # the words as before


def test_ptb_pos_extra_words_join_the_vocabulary(tmp_path, monkeypatch, make_treebank):
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    make_treebank(tmp_path)
    plain = ptb_pos.load(tmp_path, min_count=2)
    data = ptb_pos.load(tmp_path, min_count=2, extra_words=["name9", "zebra", "<unk>"])
    assert data["words"][:2] == ["<pad>", "<unk>"] and data["words"].count("<unk>") == 1
    assert set(data["words"]) == set(plain["words"]) | {"name9", "zebra"}
    valid_words = [data["words"][k] for k in data["valid"][0].flat]
    assert valid_words[0] == "name9"  # unseen in training, but an extra word: not <unk>
    np.testing.assert_array_equal(data["train"][1].flat, plain["train"][1].flat)  # same tags


def test_ptb_pos_from_zip(tmp_path, make_treebank):
    import shutil

    folder = make_treebank(tmp_path)
    shutil.make_archive(str(folder), "zip", folder.parent, "treebank")
    shutil.rmtree(folder)
    data = ptb_pos.load(tmp_path)
    assert len(data["train"][0]) == 16


def test_split_files_is_80_10_10_in_order():
    split = ptb_pos.split_files([f"wsj_{k:04d}.mrg" for k in range(1, 200)])
    assert [len(split[s]) for s in ("train", "valid", "test")] == [159, 20, 20]
    assert split["train"][-1] == "wsj_0159.mrg" and split["test"][0] == "wsj_0180.mrg"


# --- shared pieces ---------------------------------------------------------


@pytest.mark.parametrize("side", ["pre", "post"])
def test_sequences_pad_and_mask(side):
    seqs = Sequences.from_lists([[5, 6, 7], [8], [9, 10]])
    ids, mask = seqs.pad([0, 1, 2], side=side)
    assert ids.shape == (3, 3)
    for row, seq in zip(range(3), ([5, 6, 7], [8], [9, 10])):
        assert ids[row][mask[row]].tolist() == seq
        assert (ids[row][~mask[row]] == 0).all()
    assert mask[1].tolist() == ([False, False, True] if side == "pre" else [True, False, False])
    truncated, mask = seqs.pad([0, 2], max_len=2)
    assert truncated.tolist() == [[5, 6], [9, 10]] and mask.all()
    ends, mask = seqs.pad([0, 1, 2], side=side, max_len=2, truncating="pre")
    assert [ends[row][mask[row]].tolist() for row in range(3)] == [[6, 7], [8], [9, 10]]


def test_sequences_subset():
    seqs = Sequences.from_lists([[1], [2, 3], [], [4, 5, 6]])
    sub = seqs.subset([3, 1])
    assert [sub[k].tolist() for k in range(2)] == [[4, 5, 6], [2, 3]]


def test_stratified_split_keeps_proportions_and_is_seeded():
    labels = np.array([0] * 80 + [1] * 20)
    train, valid = stratified_split(labels, 10, seed=5)
    assert Counter(labels[valid].tolist()) == {0: 8, 1: 2}
    assert len(np.intersect1d(train, valid)) == 0 and len(train) + len(valid) == 100
    np.testing.assert_array_equal(valid, stratified_split(labels, 10, seed=5)[1])
    assert not np.array_equal(valid, stratified_split(labels, 10, seed=6)[1])


def test_cache_rebuilds_when_source_or_options_change(tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("one")
    builds = []

    def build():
        builds.append(1)
        return {"x": np.array([len(builds)])}

    assert cache.cached_arrays("t", [source], {"a": 1}, build)["x"][0] == 1
    assert cache.cached_arrays("t", [source], {"a": 1}, build)["x"][0] == 1  # warm
    assert cache.cached_arrays("t", [source], {"a": 2}, build)["x"][0] == 2  # options changed
    source.write_text("two, longer")
    assert cache.cached_arrays("t", [source], {"a": 2}, build)["x"][0] == 3  # source changed
    folder = Path(os.environ["LSTM_TWINS_CACHE"])
    assert not list(folder.glob("*.tmp")), "no temporary file left behind"
    for path in folder.glob("*.npz"):
        path.write_bytes(b"damaged")
    assert cache.cached_arrays("t", [source], {"a": 2}, build)["x"][0] == 4  # damaged cache rebuilt


def test_cache_keeps_one_version_per_source_and_options(tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("one")
    folder = Path(os.environ["LSTM_TWINS_CACHE"])
    folder.mkdir(parents=True)
    (folder / "t-0123456789abcdef.npz").write_bytes(b"an entry of the older one-hash naming")
    (folder / "u-0123456789abcdef-0123456789abcdef.npz").write_bytes(b"another data set's")
    cache.cached_arrays("t", [source], {"a": 1}, lambda: {"x": np.array([1])})
    cache.cached_arrays("t", [source], {"a": 2}, lambda: {"x": np.array([2])})
    source.write_text("two, longer")  # a new version of the source: the old entry of options a=1 goes
    cache.cached_arrays("t", [source], {"a": 1}, lambda: {"x": np.array([3])})
    names = sorted(p.name for p in folder.glob("t-*.npz"))
    assert len(names) == 2, names  # a=1 (new version) and a=2 (not rebuilt since, still kept)
    assert (folder / "u-0123456789abcdef-0123456789abcdef.npz").exists()
    size = sum(p.stat().st_size for p in folder.glob("*.npz"))
    assert cache.clean_cache() == (3, size)
    assert not list(folder.glob("*.npz"))


@pytest.mark.parametrize("where", ["read_only", "under_a_file"])
def test_an_unwritable_cache_warns_once_and_goes_on(tmp_path, monkeypatch, capsys, where, make_mnist):
    if where == "read_only":
        folder = tmp_path / "cache"
        folder.mkdir()
        folder.chmod(0o500)
        if os.access(folder, os.W_OK):  # root writes anywhere
            pytest.skip("this user can write into a read-only folder")
    else:
        (tmp_path / "file").write_text("x")
        folder = tmp_path / "file" / "cache"
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(folder))
    monkeypatch.setattr(cache, "_warned", set())
    make_mnist(tmp_path / "data")
    for _ in range(2):
        assert len(mnist.load(tmp_path / "data", valid_size=10)["test"][1]) == 10
    err = capsys.readouterr().err
    assert err.count("warning: cannot write the data cache") == 1 and "going on without it" in err


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_a_damaged_treebank_zip_is_a_named_error_also_in_the_data_report(tmp_path, damage, make_treebank):
    import shutil

    from harness.data.report import data_rows

    folder = make_treebank(tmp_path)
    archive = Path(shutil.make_archive(str(folder), "zip", folder.parent, "treebank"))
    shutil.rmtree(folder)
    data = archive.read_bytes()
    archive.write_bytes(b"not a zip at all" if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(DataMissingError, match=r"PTB \(POS tagging\): cannot read .*/treebank.zip"):
        ptb_pos.load(tmp_path)
    row = next(r for r in data_rows(tmp_path) if r["data set"] == "PTB POS tagging")
    assert row["status"] == "BROKEN" and row["note"].startswith("cannot read ") and "treebank.zip (" in row["note"]


def test_a_corrupt_mnist_file_is_reported_broken_with_the_reason(tmp_path, make_mnist):
    from harness.data.report import data_rows

    make_mnist(tmp_path)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    row = next(r for r in data_rows(tmp_path) if r["data set"] == "MNIST")
    assert row["status"] == "BROKEN" and "t10k-labels-idx1-ubyte.gz (" in row["note"]


def test_mnist_labels_out_of_range_name_the_file(tmp_path, make_mnist, write_idx):
    make_mnist(tmp_path)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte", np.full(10, 12))
    with pytest.raises(DataMissingError, match=r"t10k-labels-idx1-ubyte.gz holds labels outside 0-9 \(up to 12\)"):
        mnist.load(tmp_path)
