"""The shape of the code (issue 14): no import circles and no module over 400 lines in bot/, flows/, storage/.

The import graph is read with `ast`, not by importing: every `import` and `from ... import` of the
project's own modules, at module level and inside functions (the lazy imports that keep the CLI fast),
except those under `if TYPE_CHECKING:` (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "flows", "storage")
MAX_LINES = 400

# Modules allowed over MAX_LINES, each with its reason. Only flows/ and storage/ are here: nothing in bot/.
LONG_MODULES = {
    "flows/parsing.py": "answer parsing for every step type; flows/ is split by its own change (issue 14)",
    "flows/engine.py": "the pure flow engine; flows/ is split by its own change (issue 14)",
    "storage/models.py": "every table in one SQLModel metadata; storage/ is out of this change (issue 14)",
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Every dotted name an import statement that runs can load, outside `if TYPE_CHECKING:`."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)  # `from pkg import module`
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names = _imported(tree, name, path.name == "__init__.py")
        graph[name] = {n for n in names if n in modules and n != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as one circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(_circle(graph, sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _circle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One path from the component's first module back to itself, for the failure message."""
    members = set(component)
    start = component[0]
    paths = [[start]]
    seen = {start}
    while paths:
        path = paths.pop(0)
        for nxt in sorted(graph[path[-1]] & members):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                paths.append([*path, nxt])
    return component


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    graph = import_graph()
    assert "bot.app" in graph["bot.cli.groups"]  # inside run_with_app
    assert "bot.app" not in graph["bot.checkins.tick"]  # under `if TYPE_CHECKING:`
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_no_import_circles() -> None:
    found = cycles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_module_over_400_lines() -> None:
    long = {}
    for path in _modules().values():
        key = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        allowed = key in LONG_MODULES or any(key.startswith(p) for p in LONG_MODULES if p.endswith("/"))
        if lines > MAX_LINES and not allowed:
            long[key] = lines
    assert not long, f"modules over {MAX_LINES} lines (split them along their seams): {long}"
    assert not [k for k in LONG_MODULES if k.startswith("bot/")], "bot/ has no exceptions"


def test_no_bot_module_is_named_like_a_flows_or_storage_module() -> None:
    """`bot/triage.py` beside `flows/triage.py` hid which one raises alerts: the names say the job."""
    core = {p.stem for package in ("flows", "storage") for p in (ROOT / package).rglob("*.py")}
    clash = sorted(
        p.relative_to(ROOT).as_posix() for p in (ROOT / "bot").rglob("*.py") if p.stem in core - {"__init__"}
    )
    assert not clash, f"bot modules named like a flows/ or storage/ module: {clash}"


ROOT_MODULES = ("bot.app", "bot.server", "bot.demo", "bot.cli", "bot.__main__")
"""The composition root and the entry points: they wire the rest; nothing else imports them at runtime."""

BELOW = {
    "bot.channels": ("bot.inbound", "bot.alerts", "bot.staff", "bot.checkins"),
    "bot.outbox": ("bot.inbound", "bot.alerts", "bot.staff", "bot.checkins", "bot.people"),
}
"""Packages the lower layers never import: channels and the outbox are driven, they do not decide."""


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_arrows_point_down() -> None:
    graph = import_graph()
    up = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if any(_within(target, r) for r in ROOT_MODULES) and not any(_within(module, r) for r in ROOT_MODULES)
    )
    for lower, higher in BELOW.items():
        up += sorted(
            f"{module} -> {target}"
            for module, targets in graph.items()
            if _within(module, lower)
            for target in targets
            if any(_within(target, h) for h in higher)
        )
    assert not up, "imports that point up:\n" + "\n".join(up)


# A channel's webhooks and runtime are entry points, wired by the server like itself: they hand messages
# to the pipeline, apply receipts and lost contact, so they stand above the packages a channel's adapter
# stands below (the outbox sends through bot.channels.base).
ENTRY_MODULES = ("bot.channels.sms.webhooks", "bot.channels.telegram.runtime")


def _package(module: str) -> str:
    """`bot.<package>` (a channel counts as `bot.channels`), a top-level bot module, or flows/storage."""
    parts = module.split(".")
    if module in ENTRY_MODULES:
        return module
    return ".".join(parts[:2]) if parts[0] == "bot" else parts[0]


def test_no_circles_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        graph.setdefault(_package(module), set())
        for target in targets:
            if _package(target) != _package(module):
                graph[_package(module)].add(_package(target))
                graph.setdefault(_package(target), set())
    found = cycles(graph)
    assert not found, "circles between packages:\n" + "\n".join(" -> ".join(c) for c in found)
