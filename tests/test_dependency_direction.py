"""DESIGN.md's dependency direction: console -> sync -> storage; sandbox imports nothing of ours.
Inside sync/, the parts import only downwards (docs/architecture.md): runtime -> engine ->
quickbooks, procore -> settings.

Read from the source with `ast`, so a forbidden import fails here even if no test exercises it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUR_PACKAGES = {"console", "sync", "storage", "sandbox"}

# package -> packages of ours it may import
ALLOWED: dict[str, set[str]] = {
    "console": {"console", "sync", "storage", "sandbox"},
    "sync": {"sync", "storage"},
    "storage": {"storage"},
    "sandbox": {"sandbox"},
}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def violations() -> list[str]:
    found: list[str] = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            imported = imported_top_levels(path)
            for name in sorted((imported & OUR_PACKAGES) - allowed):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
            if package != "console" and "textual" in imported:
                found.append(f"{path.relative_to(ROOT)} imports textual (only console/ may)")
    return found


def test_packages_import_only_in_the_allowed_direction() -> None:
    assert violations() == []


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import textual\nfrom console.app import PaySyncApp\n", encoding="utf-8")
    assert imported_top_levels(bad) == {"textual", "console"}


# Inside sync/, by side and by job (docs/architecture.md): each part and the parts of sync it may
# import. Anything of sync not listed is forbidden to it; storage is allowed to all of them.
SYNC_PARTS: dict[str, set[str]] = {
    "sync.settings": set(),  # configuration: from the environment and storage only
    "sync.quickbooks.qbxml": {"sync.quickbooks.qbxml"},  # qbXML itself: no database, no settings
    "sync.quickbooks": {"sync.quickbooks", "sync.settings"},  # never Procore, the engine or the runtime
    "sync.procore": {"sync.procore", "sync.settings"},  # never QuickBooks, the engine or the runtime
    "sync.engine": {"sync.engine", "sync.procore", "sync.quickbooks", "sync.settings"},  # never the runtime
    "sync.runtime": {"sync"},  # runs the rest
    "sync.doctor": {"sync"},  # `paysync doctor`: checks every part
}
CRONITER_HOME = "sync/runtime/scheduler.py"  # the one module that imports croniter


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, relative imports made absolute (`from .x import y` -> pkg.x)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def _part_of(module: str) -> str | None:
    """The longest SYNC_PARTS key that is `module` or a package above it."""
    found = [part for part in SYNC_PARTS if module == part or module.startswith(part + ".")]
    return max(found, key=len) if found else None


def sync_layer_violations() -> list[str]:
    found: list[str] = []
    for path in sorted((ROOT / "sync").rglob("*.py")):
        part = _part_of(module_name(path))
        if part is None:
            continue  # sync/__init__.py
        allowed = SYNC_PARTS[part]
        for name in sorted(imported_modules(path)):
            if name.split(".")[0] == "croniter" and path.relative_to(ROOT).as_posix() != CRONITER_HOME:
                found.append(f"{path.relative_to(ROOT)} imports croniter (only {CRONITER_HOME} may)")
            if not name.startswith("sync.") or _part_of(name) is None:
                continue
            if not any(name == ok or name.startswith(ok + ".") for ok in allowed):
                found.append(f"{path.relative_to(ROOT)} ({part}) imports {name}")
    return found


def test_sync_parts_import_only_downwards() -> None:
    """quickbooks and procore never import each other, the engine or the runtime; the engine never
    imports the runtime; qbXML imports nothing of ours; croniter lives in the scheduler alone."""
    assert sync_layer_violations() == []


def test_every_module_of_sync_belongs_to_a_part() -> None:
    loose = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "sync").rglob("*.py"))
        if path.parent != ROOT / "sync" or path.name not in ("__init__.py", "settings.py")
        if _part_of(module_name(path)) is None
    ]
    assert loose == []
    assert {p.name for p in (ROOT / "sync").glob("*.py")} == {"__init__.py", "settings.py"}


def test_the_layer_checker_catches_an_upward_import(tmp_path: Path) -> None:
    assert _part_of("sync.quickbooks.qbxml.parse") == "sync.quickbooks.qbxml"
    assert _part_of("sync.quickbooks.steps.bills") == "sync.quickbooks"
    allowed = SYNC_PARTS["sync.engine"]
    assert not any("sync.runtime.scheduler".startswith(ok + ".") for ok in allowed)
