"""Where everything is: the project's folders and files, each named once. Imports nothing of the project."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "configs"
README = PROJECT_ROOT / "README.md"
PROJECT_RESULTS = PROJECT_ROOT / "results"  # the README's tables come from here only
RESULTS_DIR = Path(os.environ.get("LSTM_TWINS_RESULTS") or PROJECT_RESULTS).absolute()  # what runs write
DATA_DIR = PROJECT_ROOT / "data"  # unless $LSTM_TWINS_DATA or --data-dir says otherwise
CACHE_DIR = PROJECT_ROOT / "cache"  # unless $LSTM_TWINS_CACHE says otherwise


def results_folder(config_file: str | Path, digest: str, file_digest: str, quick: bool) -> Path:
    """Where the runs of one settings digest (of a config resolved from config_file) are written.

    results/<name>/ (configs/imdb.yaml -> results/imdb/) holds the runs of the file as it is
    (`digest` equal to `file_digest`, the digest of the file's own runs). A run that is not (an
    --epochs override, a config handed in by code, or a file from another folder with the name of
    one of the project's configs) goes to results/<name>-<digest>/, so it can never mix with, or
    replace, the runs of the file. Smoke runs: under results/quick/.
    """
    config_file = Path(config_file)
    name = config_file.stem
    project_config = CONFIG_DIR / f"{name}.yaml"
    if digest != file_digest or project_config.exists() and project_config.resolve() != config_file.resolve():
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
