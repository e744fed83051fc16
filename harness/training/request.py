"""One run asked for: a config resolved once, with everything the run needs, handed down as it is.

The command line (`train`, and `compare` for each of its runs) and the sweep driver build the
request the same way (`run_request`); the run reads it and resolves nothing again. It is JSON-ready
(`to_json`, `from_json`): a sweep hands it to its worker processes as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from .. import paths
from ..recipe.config import effective_config, file_digest, run_digest, settings_digest
from ..twins import source


@dataclass(frozen=True, eq=False)
class RunRequest:
    """One twin × one config × one seed.

    config: resolved, with the run's seed and training.epochs set to the epochs it trains.
    folder: where its JSON, checkpoints and comparison page go (paths.results_folder).
    threads: BLAS, TensorFlow and NumPy-twin threads pinned by a sweep's worker; None: as the environment says.
    """

    config_file: Path
    config: dict
    twin: str
    quick: bool
    resume: bool
    data_dir: Optional[Path]
    threads: Optional[int]
    folder: Path
    settings_digest: str
    run_digest: str
    twin_source: Optional[str] = None  # what loads an outside twin (twins.source); None: the registry's

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def output(self) -> Path:
        """Its JSON: <folder>/<twin>-seed<N>.json."""
        return paths.run_file(self.folder, self.twin, self.seed)

    @property
    def checkpoints(self) -> Path:
        return paths.checkpoint_folder(self.folder, self.twin, self.seed)

    @property
    def label(self) -> str:
        return f"{self.config_file.stem} seed {self.seed} {self.twin}"

    def to_json(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> "RunRequest":
        as_paths = {k: None if data[k] is None else Path(data[k]) for k in ("config_file", "data_dir", "folder")}
        return cls(**{**data, **as_paths})


def run_request(config_file: Path | str, config: dict, twin: str, *, seed: Optional[int] = None,
                epochs: Optional[int] = None, quick: bool = False, resume: bool = False,
                data_dir: Optional[Path] = None, threads: Optional[int] = None) -> RunRequest:
    """The request for `twin` to run `config` (resolved from config_file, or handed in by code).

    seed: overrides the config's; epochs: overrides what it trains (quick: the quick section's, else the
    config's own); quick: the config's small smoke subset.
    """
    config_file = Path(config_file)
    config = effective_config(config if seed is None else {**config, "seed": seed}, epochs, quick)
    return RunRequest(config_file, config, twin, quick, resume, None if data_dir is None else Path(data_dir), threads,
                      config_folder(config_file, config, quick), settings_digest(config, quick),
                      run_digest(config, quick), source(twin))


def config_folder(config_file: Path | str, config: dict, quick: bool = False) -> Path:
    """The results folder of the runs of `config` (resolved from config_file, with the epochs it trains),
    whatever their twin and seed: paths.results_folder of its settings digest."""
    return paths.results_folder(config_file, settings_digest(config, quick), file_digest(config_file, quick), quick)
