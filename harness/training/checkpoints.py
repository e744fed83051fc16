"""Per-epoch checkpoints of one twin's run: weights and the run so far, written atomically.

A checkpoint is two files in the twin's checkpoint folder: `epoch-NNNN.npz` (the
canonical weights) and then `latest.json` (the run record, naming that npz). The
JSON is replaced last, so it always names a complete npz. Nothing else needs
saving: the batch order of an epoch is a function of (seed, epoch), the learning
rate of the epoch number and the epochs undone so far (in the run record), and the
language model starts each epoch from zero state.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from ..atomic_files import write_json_atomic, write_npz_atomic
from ..errors import BadInput
from ..recipe.config import continues


class CheckpointError(BadInput, RuntimeError):
    """A checkpoint that cannot be resumed from."""


def save_checkpoint(folder: Path, epoch: int, weights: dict[str, np.ndarray], run: dict) -> Path:
    """Write the weights after `epoch` (1-based) and the run record; drop older weight files."""
    name = f"epoch-{epoch:04d}.npz"
    write_npz_atomic(folder / name, {key.replace("/", "|"): value for key, value in weights.items()})
    write_json_atomic(folder / "latest.json", {"epoch": epoch, "weights": name, "run": run})
    for old in folder.glob("epoch-*.npz"):
        if old.name != name:
            old.unlink()
    return folder / name


def load_checkpoint(folder: Path, config: dict) -> Optional[tuple[int, dict[str, np.ndarray], dict]]:
    """(epoch, weights, run) of the last complete checkpoint, or None if there is none.

    Raises CheckpointError if it was made with other settings (more epochs than `config` trains included).
    """
    latest = folder / "latest.json"
    if not latest.exists():
        return None
    try:
        record = json.loads(latest.read_text(encoding="utf-8"))
        with np.load(folder / record["weights"], allow_pickle=False) as npz:
            weights = {key.replace("|", "/"): npz[key] for key in npz.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"{folder}: cannot read the checkpoint ({error}); delete the folder to start over, "
                              "or run without --resume") from None
    if not continues(config, record["run"]["config"]):
        raise CheckpointError(
            f"{folder}: the checkpoint was made with a different config; delete the folder or run without --resume"
        )
    return record["epoch"], weights, record["run"]
