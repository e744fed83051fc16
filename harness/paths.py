"""Where everything is: the project's folders and files, each named once."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "configs"
README = PROJECT_ROOT / "README.md"
RESULTS_DIR = Path(os.environ.get("LSTM_TWINS_RESULTS") or PROJECT_ROOT / "results")
DATA_DIR = PROJECT_ROOT / "data"  # unless $LSTM_TWINS_DATA or --data-dir says otherwise
CACHE_DIR = PROJECT_ROOT / "cache"  # unless $LSTM_TWINS_CACHE says otherwise


def results_folder(config_file: str | Path, config: dict, quick: bool) -> Path:
    """Where the runs of `config` (resolved from config_file, with the epochs it trains) are written.

    results/<name>/ (configs/imdb.yaml -> results/imdb/) holds the runs of the file as it is.
    A run that is not (an --epochs override, a config handed in by code, or a file from another
    folder with the name of one of the project's configs) goes to results/<name>-<settings digest>/,
    so it can never mix with, or replace, the runs of the file. Smoke runs: under results/quick/.
    """
    from .config import file_digest, settings_digest

    config_file = Path(config_file)
    name = config_file.stem
    project_config = CONFIG_DIR / f"{name}.yaml"
    digest = settings_digest(config, quick)
    as_is = digest == file_digest(config_file, quick)
    if not as_is or project_config.exists() and project_config.resolve() != config_file.resolve():
        name = f"{name}-{digest}"
    return RESULTS_DIR / ("quick" if quick else "") / name


def run_file(folder: Path, twin: str, seed: int) -> Path:
    """Where one twin's run with one seed is written: <folder>/<twin>-seed<seed>.json."""
    return folder / f"{twin}-seed{seed}.json"


def checkpoint_folder(folder: Path, twin: str, seed: int) -> Path:
    """Where one twin's run with one seed keeps its per-epoch checkpoints: <folder>/checkpoints/<twin>-seed<seed>/."""
    return folder / "checkpoints" / run_file(folder, twin, seed).stem


def relative_to_project(path: str | Path) -> str:
    """path relative to the project root where it lies inside it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
