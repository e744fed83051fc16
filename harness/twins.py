"""The twins the harness compares, named once: every command, page and table reads this registry.

A twin is a module that implements `twin_contract.Twin`; the reference (whose figures the
others are measured against) is last. Imports nothing of the project but its error type: the twins
are imported on first use (`load`), since TensorFlow is slow to load and PyTorch an optional extra.

Wherever a twin is named, an outside one can be too (`resolve`): an installed package's entry point
in the group ENTRY_POINTS, a file (`path/to/my_lstm.py`) or a module (`mypkg.my_lstm`); it is known
by its NAME, and a child process is handed what loads it (`source`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from typing import Optional

from twin_contract import Twin, contract_problems

from .errors import BadInput

MODULES = {"numpy": "impl_numpy", "pytorch": "impl_pytorch", "tensorflow": "impl_tensorflow"}  # the reference last
LABELS = {"numpy": "NumPy", "pytorch": "PyTorch", "tensorflow": "TensorFlow"}
SHORT = {**LABELS, "tensorflow": "TF"}  # in a table's column names
LIBRARIES = {"numpy": "numpy", "pytorch": "torch", "tensorflow": "tensorflow"}  # what each twin computes with
NAMES = tuple(MODULES)
REFERENCE = NAMES[-1]
DEFAULT = ("numpy", "tensorflow")  # what compare and sweep train unless --twins names others
EXTRAS = {"pytorch": "torch"}  # the optional extra that installs a twin's library
# an installed package's twins, by name: [project.entry-points."lstm_twins.twins"] my_lstm = "mypkg.my_lstm"
ENTRY_POINTS = "lstm_twins.twins"
_OUTSIDE: dict[str, tuple[str, Twin]] = {}  # this process's outside twins: NAME -> (what loads it, the module)


class TwinMissing(BadInput, ImportError):
    """A twin whose library (an optional extra) is not installed."""


class NotATwin(BadInput, ValueError):
    """A named twin that is not found, does not import, or breaks the contract."""


def available(name: str) -> bool:
    """Whether the twin's library is installed (those of the optional extras may not be)."""
    return name not in EXTRAS or importlib.util.find_spec(LIBRARIES[name]) is not None


def check_available(names) -> None:
    """TwinMissing, before any work, naming the first twin whose optional extra is not installed."""
    for name in names:
        if not available(name):
            raise TwinMissing(f"the {LABELS[name]} twin needs {LIBRARIES[name]}, an optional extra: .venv/bin/pip "
                              f"install -e '.[{EXTRAS[name]}]' (the README says how to get a CPU-only wheel)")


def load(name: str) -> Twin:
    """The twin's module (imported on first use: TensorFlow is slow to load); TwinMissing without its extra.
    `name` may also be anything resolve() takes."""
    if name in MODULES:
        check_available([name])
        return importlib.import_module(MODULES[name])
    return _OUTSIDE[resolve(name)][1]


def resolve(text: str) -> str:
    """The NAME of the twin `text` names: a registered name, an entry point of ENTRY_POINTS, a file or a
    dotted module. An outside twin is imported once, checked against the contract (NotATwin, one line) and
    remembered for load() and source()."""
    if text in MODULES or text in _OUTSIDE:
        return text
    where, module = find(text)
    problems = contract_problems(module)
    if problems:
        raise NotATwin(f"{text} breaks the twin contract: {'; '.join(problems)} "
                       f"(make check TWIN={text} shows each)")
    name = module.NAME
    if name in MODULES or _OUTSIDE.get(name, (where,))[0] != where:
        raise NotATwin(f"{text}: its NAME {name!r} is already another twin's; give it a name of its own")
    _OUTSIDE[name] = (where, module)
    return name


def find(text: str) -> tuple[str, Twin]:
    """(what loads it again in another process, the imported module) for an outside twin, without checking
    it against the contract; NotATwin when nothing of that name is found or it fails to import."""
    points = {point.name: point for point in importlib.metadata.entry_points(group=ENTRY_POINTS)}
    if text in points:
        where = points[text].value.partition(":")[0]
    elif _is_file(text):
        path = Path(text).expanduser().resolve()
        if not path.is_file():
            raise NotATwin(f"--twin {text}: no such file")
        where = str(path)
    else:
        where = text
    try:
        return where, _import(where)
    except ModuleNotFoundError as error:
        if error.name != where:
            raise NotATwin(f"{text} failed to import: {error}") from error
        raise NotATwin(f"{text} is no twin: not one of {', '.join(NAMES)}, no entry point of {ENTRY_POINTS}, "
                       "no file (path/to/twin.py) and no module of that name") from error
    except Exception as error:  # the outside module's own fault, said in one line
        raise NotATwin(f"{text} failed to import: {type(error).__name__}: {error}") from error


def _import(where: str):
    """The module at a file path (registered under a name of its own) or of a dotted name."""
    if not _is_file(where):
        return importlib.import_module(where)
    name = "lstm_twins_file_" + hashlib.sha1(where.encode()).hexdigest()[:12]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, where)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def _is_file(text: str) -> bool:
    """Whether a twin is named by its file (path/to/twin.py) rather than by a module."""
    return text.endswith(".py") or "/" in text


def source(name: str) -> Optional[str]:
    """What loads an outside twin in another process (a file's absolute path or a module); None for the
    registry's."""
    return _OUTSIDE[name][0] if name in _OUTSIDE else None


def label(name: str) -> str:
    """The twin's name in prose and tables: the registry's label, an outside twin's NAME."""
    return LABELS.get(name, name)


def short(name: str) -> str:
    """The twin's name in a table's column names."""
    return SHORT.get(name, name)


def ordered(names) -> list[str]:
    """Each name once: the registry's in its order, then outside twins alphabetically."""
    names = set(names)
    return [name for name in NAMES if name in names] + sorted(names - set(NAMES))
