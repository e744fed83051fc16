"""The harness's rooms: every module's imports, read from its code, run down the data flow and never in a circle."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the rooms each room may import from, besides itself and the ground floor
BELOW = {"data": set(), "recipe": {"data"}, "training": {"recipe", "data"},
         "studies": {"training", "recipe", "data"}, "reports": {"recipe", "data"},
         "cli": {"studies", "training", "recipe", "data", "reports"}}


def modules() -> dict[str, Path]:
    """harness.<...> module name -> file, packages named without their __init__."""
    found = {}
    for path in (ROOT / "harness").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known) -> list[tuple[str, int, bool]]:
    """(harness module imported, line, inside a function?) for every import statement of the module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local = {id(node) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
             for node in ast.walk(fn)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.append((target, node.lineno, id(node) in local))
    return found


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def room(name: str) -> str:
    """The room of a harness module: its subpackage, or "ground" for the modules at the top."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in BELOW) else "ground"


def layout_problems(known=None) -> list[str]:
    known = known or modules()
    graph, problems = {}, []
    for name, path in known.items():
        graph[name] = set()
        for target, line, in_function in imports(name, path, known):
            graph[name].add(target)
            where = f"{_shown(path)}:{line} imports {target}"
            if in_function:
                problems.append(f"{where} inside a function (import project modules at the top)")
            mine, theirs = room(name), room(target)
            if target == "harness" or mine == theirs or theirs == "ground" and mine != "ground":
                continue
            if mine == "ground" and name not in ("harness.__main__",):
                problems.append(f"{where}: the ground floor imports no room")
            elif mine != "ground" and theirs not in BELOW[mine]:
                problems.append(f"{where}: {mine}/ may import only {sorted(BELOW[mine])} and the ground floor")
    problems += [f"import circle: {' -> '.join(circle)}" for circle in circles(graph)]
    return problems


def circles(graph: dict[str, set]) -> list[list[str]]:
    """One circle through each module that can reach itself (depth-first)."""
    found, seen = [], set()
    for start in sorted(graph):
        stack = [(start, [start])]
        visited = set()
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    key = frozenset(trail)
                    if key not in seen:
                        seen.add(key)
                        found.append(trail + [start])
                elif nxt not in visited:
                    visited.add(nxt)
                    stack.append((nxt, trail + [nxt]))
    return found


def test_the_rooms_import_only_downwards_with_no_circle():
    assert layout_problems() == []


@pytest.mark.parametrize("room_name, line, expected", [
    ("reports", "from ..studies import parity", "reports/ may import only ['data', 'recipe']"),
    ("reports", "from ..training.run import run", "reports/ may import only ['data', 'recipe']"),
    ("data", "from ..recipe.tasks import TASKS", "import circle"),
    ("training", "def f():\n    from ..studies import sweep", "inside a function"),
])
def test_an_import_up_or_round_is_named(tmp_path, room_name, line, expected):
    """The check itself: a module added with one wrong import is reported."""
    known = modules()
    probe = tmp_path / "probe.py"
    probe.write_text(line + "\n", encoding="utf-8")
    known[f"harness.{room_name}.probe"] = probe
    if room_name == "data":  # and the data room's own loaders then reached from the probe: recipe imports data
        known["harness.data.mnist"] = _with_line(tmp_path, known["harness.data.mnist"], "from . import probe")
    problems = layout_problems(known)
    assert any(expected in problem for problem in problems), problems


def _with_line(tmp_path: Path, path: Path, line: str) -> Path:
    copy = tmp_path / path.name
    copy.write_text(path.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    return copy
