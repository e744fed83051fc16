"""Training: a fair setup (same weights and batch order for both twins), the epoch loop, evaluation, the LSTM family trained alike."""


import numpy as np
import pytest
import yaml

import impl_numpy
from harness.recipe.config import config_path, resolve_config
from twin_contract import ModelSpec
from harness.recipe.tasks import batch_digest, prepare_task
from harness.training.loop import train_epochs, weights_digest
from harness.twins import DEFAULT, load


TWINS = [load(name) for name in DEFAULT]  # the NumPy twin and the reference



def test_same_seed_same_weights_and_batch_order_in_both_twins(data_root, small_config):
    config = small_config()
    task = prepare_task(config, data_root)
    digests = []
    for twin in TWINS:
        model = twin.build_model(task.spec, task.weights, "float32")
        digests.append(weights_digest(twin.get_weights(model)))
    assert digests[0] == digests[1]
    again = prepare_task(config, data_root)
    assert weights_digest(again.weights) == weights_digest(task.weights)
    assert batch_digest(again.batches("train", 0)) == batch_digest(task.batches("train", 0))
    assert batch_digest(task.batches("train", 1)) != batch_digest(task.batches("train", 0))  # reshuffled per epoch



@pytest.mark.parametrize("task, size", [("mnist", 4), ("imdb", 3)])  # 30 and 4 training examples
def test_drop_remainder_leaves_out_each_epochs_short_last_batch_only(data_root, small_config, task, size):
    kept, dropped = (prepare_task(small_config(task, batch_size=size, drop_remainder=flag), data_root)
                     for flag in (False, True))
    n = kept.sizes["train"]
    assert n % size and len(kept.batches("train", 0)[-1][1]) == n % size  # the fixture leaves a short batch
    for epoch in (0, 1):
        full, short = kept.batches("train", epoch), dropped.batches("train", epoch)
        assert [len(b[1]) for b in short] == [size] * (n // size)
        assert batch_digest(short) == batch_digest(full[:-1])  # same order, the short batch gone
    assert batch_digest(dropped.batches("valid", None)) == batch_digest(kept.batches("valid", None))



def test_one_float64_epoch_gives_the_same_losses_in_both_twins(data_root, small_config):
    config = small_config("imdb", dtype="float64")
    task = prepare_task(config, data_root)
    runs = [train_epochs(twin, task, config, epochs=1, progress=False) for twin in TWINS]
    assert runs[0]["initial_weights_digest"] == runs[1]["initial_weights_digest"]
    first, second = (r["history"][0] for r in runs)
    assert first["batch_order_digest"] == second["batch_order_digest"]
    assert first["running_train_loss"] == pytest.approx(second["running_train_loss"], rel=1e-8)
    for split in ("train", "valid", "test"):
        assert first[split]["loss"] == pytest.approx(second[split]["loss"], rel=1e-8)



def test_nan_loss_marks_the_run_diverged(data_root, small_config):
    config = small_config(lr0=1e38, clip_norm=None, dtype="float32")
    task = prepare_task(config, data_root)
    with np.errstate(all="ignore"):  # the overflow is the point
        run = train_epochs(impl_numpy, task, config, epochs=2, progress=False)
    assert run["status"] == "diverged"
    assert "loss is nan at epoch 1" in run["message"] or "loss is inf" in run["message"]



@pytest.mark.parametrize("window", [1, 5, 400])
def test_lm_evaluation_scores_every_prediction_once_with_the_state_carried(window, tmp_path, monkeypatch, make_ptb):
    from harness.data.ptb_lm import stream_windows
    from harness.studies.synthetic import random_weights
    from twin_contract import Batch
    from harness.training.loop import evaluate

    stream = (np.arange(23) * 5) % 7  # N = 23 tokens: 22 predictions
    windows = list(stream_windows(stream, window))
    np.testing.assert_array_equal(np.concatenate([x[0] for x, _ in windows]), stream[:-1])
    np.testing.assert_array_equal(np.concatenate([y[0] for _, y in windows]), stream[1:])
    spec = ModelSpec("per_step", 3, 4, 7, vocab_size=7)
    model = impl_numpy.build_model(spec, random_weights(spec, np.random.default_rng(0)), "float64")
    windowed = evaluate(impl_numpy, model, [Batch(x, y) for x, y in windows], carries_state=True)
    whole = evaluate(impl_numpy, model, [Batch(stream[None, :-1], stream[None, 1:])], carries_state=True)
    assert windowed["scored"] == 22
    assert windowed["loss"] == pytest.approx(whole["loss"], rel=1e-12), "each window starts where the last ended"
    cut = evaluate(impl_numpy, model, [Batch(x, y) for x, y in windows], carries_state=False)
    assert window == 400 or cut["loss"] != pytest.approx(whole["loss"], rel=1e-12)  # the test can tell

    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    make_ptb(tmp_path)
    raw = yaml.safe_load(config_path("ptb_lm").read_text())
    raw["model"].update(embedding="random", hidden_size=4)
    raw["training"]["batch_size"] = 2
    task = prepare_task(resolve_config(raw), tmp_path)
    for split, size in task.sizes.items():
        batches = task.batches(split, None)
        assert sum(b.targets.size for b in batches) == size - 1 and all(len(b.targets) == 1 for b in batches)



def test_a_stacked_model_trains_in_both_twins_alike_and_keeps_one_layer_names(data_root, small_config):
    one = prepare_task(small_config(), data_root)
    two = prepare_task(resolve_config({**small_config(), "model": {**small_config()["model"], "layers": 2}}), data_root)
    assert [n for n in two.weights if n.startswith("lstm")] == [
        "lstm/kernel", "lstm/recurrent_kernel", "lstm/bias", "lstm_1/kernel", "lstm_1/recurrent_kernel",
        "lstm_1/bias"]
    for name in one.weights:  # the first layer and the head are drawn as for one layer
        np.testing.assert_array_equal(one.weights[name], two.weights[name])
    assert two.weights["lstm_1/kernel"].shape == (8, 32)  # H inputs
    config = {**small_config(dtype="float64"), "model": {**small_config()["model"], "layers": 2}}
    runs = [train_epochs(twin, prepare_task(config, data_root), config, epochs=1, progress=False) for twin in TWINS]
    a, b = (r["history"][0]["train"]["loss"] for r in runs)
    assert a == pytest.approx(b, rel=1e-10)



def family_config(task: str, **model) -> dict:
    """The task's project config at a tiny size (float64, one epoch), with these model keys."""
    raw = yaml.safe_load(config_path(task).read_text())
    raw["model"].update({"hidden_size": 6, "embedding": "random", "train_embedding": True, **model})
    raw["training"].update({"batch_size": 4, "epochs": 1, "dtype": "float64"})
    return raw



def losses_of_both_twins(config: dict, data_root) -> list[float]:
    return [train_epochs(twin, prepare_task(config, data_root), config, epochs=1, progress=False)["history"][0]["train"]
            ["loss"] for twin in TWINS]



def test_the_lstm_family_trains_alike_in_both_twins_on_pos(tmp_path, monkeypatch, make_treebank):
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    make_treebank(tmp_path / "data")
    raw = family_config("ptb_pos", layers=2, bidirectional=True, dropout=0.3)
    raw["data"].update({"word_shape": True, "suffix_length": 2, "feature_size": 3})
    config = resolve_config(raw)
    task = prepare_task(config, tmp_path / "data")
    assert [f.name for f in task.spec.features] == ["shape", "suffix"]
    assert task.weights["shape_embedding"].shape == (8, 3) and task.weights["lstm/kernel"].shape == (50 + 6, 24)
    assert task.weights["lstm_1/backward/kernel"].shape == (12, 24)  # reads both directions of the layer below
    batch = task.batches("train", 0)[0]
    assert batch.features.shape == batch.inputs.shape + (2,) and batch.dropout is None  # masks come at step time
    numpy_loss, tensorflow_loss = losses_of_both_twins(config, tmp_path / "data")
    assert numpy_loss == pytest.approx(tensorflow_loss, rel=1e-10)
    without_dropout = resolve_config({**raw, "model": {**raw["model"], "dropout": 0.0}})
    assert losses_of_both_twins(without_dropout, tmp_path / "data")[0] != numpy_loss  # the masks did act



def test_a_tied_lm_with_dropout_trains_alike_in_both_twins(tmp_path, monkeypatch, make_ptb):
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    make_ptb(tmp_path / "data")
    raw = family_config("ptb_lm", tie_embeddings=True, embedding_size=6, dropout=0.3, layers=2)
    raw["data"]["num_steps"] = 3
    config = resolve_config(raw)
    task = prepare_task(config, tmp_path / "data")
    assert "dense/kernel" not in task.weights and task.spec.tie_embeddings
    numpy_loss, tensorflow_loss = losses_of_both_twins(config, tmp_path / "data")
    assert numpy_loss == pytest.approx(tensorflow_loss, rel=1e-10)



def test_max_pooling_trains_alike_in_both_twins_on_imdb(tmp_path, monkeypatch, make_imdb):
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    make_imdb(tmp_path / "data", as_archive=True)
    raw = family_config("imdb", pooling="max", bidirectional=True, dropout=0.3)
    raw["data"].update({"valid_size": 2, "max_len": 12})
    config = resolve_config(raw)
    assert prepare_task(config, tmp_path / "data").spec.pooling == "max"
    numpy_loss, tensorflow_loss = losses_of_both_twins(config, tmp_path / "data")
    assert numpy_loss == pytest.approx(tensorflow_loss, rel=1e-10)
    mean = resolve_config({**raw, "model": {**raw["model"], "pooling": "mean"}})
    assert losses_of_both_twins(mean, tmp_path / "data")[0] != numpy_loss  # the pooling did change
