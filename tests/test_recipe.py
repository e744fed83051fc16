"""The recipe: configs and their one-line errors, the task registry every part reads, the initial weights."""


import numpy as np
import pytest
from test_training import family_config
import yaml

from harness import paths
from harness.reports import readme
from harness.recipe.config import ConfigError, config_path, load_config, resolve_config
from harness.recipe.initialisation import initial_weights, orthogonal
from twin_contract import ModelSpec
from harness.recipe.tasks import TASKS


@pytest.mark.parametrize("task", list(TASKS))
def test_shipped_configs_load(task):
    config = load_config(config_path(task))
    assert config["task"] == task and config["training"]["epochs"] >= 1



def test_imdb_config_matches_the_seed_experiment():
    config = load_config(config_path("imdb"))
    assert config["seed"] == 42 and config["model"]["hidden_size"] == 32
    assert config["training"] == {"epochs": 10, "batch_size": 32, "lr0": 1.0, "decay": 0.2, "clip_norm": 5.0,
                                  "dtype": "float32", "max_grad_norm": None, "plateau_factor": None,
                                  "plateau_metric": "loss",
                                  "drop_remainder": False}
    assert config["model"]["embedding"] == "glove" and not config["model"]["train_embedding"]



BAD = [
    ({"training": {"batch_size": -3}}, "training.batch_size is -3"),
    ({"training": {"lr0": "fast"}}, "training.lr0 is 'fast'; expected float"),
    ({"model": {"hidden": 3}}, "unknown key model.hidden"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"training": {"dtype": "float16"}}, "training.dtype is 'float16'; expected one of"),
    ({"model": {"train_embedding": "yes"}}, "model.train_embedding is 'yes'; expected bool"),
    ({"training": None, "model": {"hidden_size": True}}, "model.hidden_size is True"),
    ({"training": {"lr0": float("nan")}}, "training.lr0 is nan; expected a finite float"),
    ({"training": {"plateau_factor": 1}}, r"training.plateau_factor is 1.0; expected float > 0.0 and < 1.0 or null"),
    ({"training": {"plateau_metric": "perplexity"}}, r"training.plateau_metric is 'perplexity'; expected one of"),
    ({"model": {"layers": 0}}, r"model.layers is 0; expected int >= 1"),
    ({"model": {"layers": 1.5}}, r"model.layers is 1.5; expected int >= 1"),
]



@pytest.mark.parametrize("change, message", BAD)
def test_bad_config_names_the_key(tmp_path, change, message):
    raw = yaml.safe_load(config_path("mnist").read_text())
    for section, values in change.items():
        if isinstance(values, dict) and isinstance(raw.get(section), dict):
            raw[section].update(values)
        else:
            raw[section] = values
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message) as error:
        load_config(path)
    assert str(path) in str(error.value)



def test_missing_required_key_and_invalid_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: mnist\nmodel: {}\n")
    with pytest.raises(ConfigError, match="model.hidden_size is missing"):
        load_config(path)
    path.write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="unknown task 'cifar'"):
        config_path("cifar")



@pytest.mark.parametrize("text, message", [
    (b"task: mnist\nmodel:\n  hidden_size: [1, 2\n", r"invalid YAML at line 4, column 1: expected ',' or ']'"),
    (b"task: mnist\nseed: 1\nseed: 2\n", r"invalid YAML at line 3, column 1: key 'seed' is given twice"),
    (b"task: mnist\ntraining:\n  lr0: 1\n  lr0: 2\n", r"line 4, column 3: key 'lr0' is given twice \(first on line 3\)"),
    (b"task: mnist # caf\xe9\n", r"not UTF-8 text \(byte 0xe9 at offset 17\); save it as UTF-8"),
])
def test_config_file_errors_are_one_line_with_the_place(tmp_path, text, message, cli):
    path = tmp_path / "c.yaml"
    path.write_bytes(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert "\n" not in str(caught.value)
    done = cli("compare", "--task", "mnist", "--config", str(path), results_dir=tmp_path / "results")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()



def test_drop_remainder_is_refused_for_the_language_models_stream():
    raw = family_config("ptb_lm")
    raw["training"]["drop_remainder"] = True
    with pytest.raises(ConfigError, match="training.drop_remainder is true; task ptb_lm trains on windows"):
        resolve_config(raw, "lm.yaml")



def test_keras_scheme_has_orthogonal_recurrent_kernel_and_forget_bias_one():
    spec = ModelSpec("pooled", 3, 4, 2)
    init = {"scheme": "keras", "lstm_scale": 0.1, "dense_scale": 1.0, "embedding_scale": 0.1}
    w = initial_weights(spec, init, np.random.default_rng(0))
    np.testing.assert_allclose(w["lstm/bias"], [0] * 4 + [1] * 4 + [0] * 8)
    q = orthogonal((4, 16), np.random.default_rng(1))
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-12)



def test_the_task_registry_is_what_every_part_reads(tmp_path, cli):
    from harness.cli import main
    from harness.studies.bench import bench_cases
    from harness.studies.parity import PARITY_CASES

    names = list(TASKS)
    assert [case.name for case in bench_cases()][:len(names)] == names  # then the LSTM family's shapes
    assert [case.name for case in PARITY_CASES[:len(names)]] == names  # then the LSTM family's cases
    for case in PARITY_CASES[:len(names)]:
        task = TASKS[case.name]
        assert (case.spec.head, case.carries_state, case.batch_size) == (task.head, task.carries_state,
                                                                         task.parity["batch_size"])
    section = readme.results_section(tmp_path / "no results", paths.CONFIG_DIR)
    assert [line[4:] for line in section.splitlines() if line.startswith("### ")] == [t.title for t in TASKS.values()]
    done = cli("tasks")
    assert done.returncode == 0 and done.stdout.split() == names
    with pytest.raises(SystemExit):  # the bench's choices are the registry's
        main(["bench", "--task", "cifar"])
    for name in names:
        assert load_config(config_path(name))["data"].keys() == TASKS[name].data_fields.keys()



FAMILY_BAD = [
    ("ptb_pos", {"pooling": "max"}, "model.pooling is 'max'; task ptb_pos labels every step"),
    ("imdb", {"pooling": "median"}, "model.pooling is 'median'; expected one of"),
    ("ptb_lm", {"bidirectional": True}, "model.bidirectional is true; task ptb_lm predicts the next token"),
    ("imdb", {"tie_embeddings": True}, "model.tie_embeddings is true; task imdb does not predict tokens"),
    ("ptb_lm", {"tie_embeddings": True, "embedding_size": 6, "train_embedding": False},
     "tie_embeddings is true with train_embedding false"),
    ("ptb_lm", {"tie_embeddings": True}, r"output size to equal model.embedding_size \(6 vs 50\)"),
    ("ptb_lm", {"embedding": "glove", "embedding_size": 100}, "model.embedding_size is 100; GloVe vectors have 50"),
    ("ptb_pos", {"dropout": 1.0}, r"model.dropout is 1.0; expected float >= 0.0 and < 1.0"),
    ("ptb_pos", {"dropout": -0.1}, r"model.dropout is -0.1"),
    ("ptb_pos", {"bidirectional": "yes"}, "model.bidirectional is 'yes'; expected bool"),
    ("ptb_pos", {"embedding_size": 0}, "model.embedding_size is 0"),
]



@pytest.mark.parametrize("task, model, message", FAMILY_BAD)
def test_impossible_lstm_family_configs_are_one_line_errors(task, model, message):
    with pytest.raises(ConfigError, match=message) as error:
        resolve_config(family_config(task, **model), "family.yaml")
    assert "\n" not in str(error.value) and str(error.value).startswith("family.yaml: ")



@pytest.mark.parametrize("data, message", [({"suffix_length": -1}, "data.suffix_length is -1"),
                                           ({"word_shape": 1}, "data.word_shape is 1; expected bool"),
                                           ({"feature_size": 0}, "data.feature_size is 0")])
def test_bad_word_feature_keys_are_one_line_errors(data, message):
    raw = family_config("ptb_pos")
    raw["data"].update(data)
    with pytest.raises(ConfigError, match=message):
        resolve_config(raw, "family.yaml")
    raw = family_config("imdb")
    raw["data"].update(data)
    with pytest.raises(ConfigError, match="unknown key data"):  # word features are POS's
        resolve_config(raw, "family.yaml")
