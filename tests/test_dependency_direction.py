"""DESIGN.md's dependency direction: console -> sync -> storage; sandbox imports nothing of ours.

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
