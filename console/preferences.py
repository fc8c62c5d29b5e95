"""What a person sets for the console, kept between runs in the user's config folder.

The folder is platformdirs' `user_config_dir("paysync")` (on Linux ~/.config/paysync, on Windows
%LOCALAPPDATA%\\paysync, on macOS ~/Library/Application Support/paysync), or the folder that
PAYSYNC_CONFIG_DIR names. In it:

- `console.json`: {"theme": "textual-light", "display_tz": "America/Chicago"}. The console writes
  the theme whenever you pick one (ctrl+p → "Change theme"); `display_tz` you may write yourself.
- `keymap.toml`: your own keys, binding id = "key" (see console/bindings.py and the help screen
  for the ids), for example `sync-now = "ctrl+s"`.

A file that cannot be read is reported in words and otherwise ignored: the console still starts.
Times are shown in PAYSYNC_DISPLAY_TZ if set, else console.json's display_tz, else the computer's
local time zone; logs stay in UTC.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platformdirs import user_config_dir
from textual.binding import Binding

CONFIG_DIR_ENV = "PAYSYNC_CONFIG_DIR"
DISPLAY_TZ_ENV = "PAYSYNC_DISPLAY_TZ"
SETTINGS_FILE = "console.json"
KEYMAP_FILE = "keymap.toml"


def config_dir() -> Path:
    """Where the console keeps its settings: PAYSYNC_CONFIG_DIR, else the user config folder."""
    chosen = os.environ.get(CONFIG_DIR_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    return Path(user_config_dir("paysync", appauthor=False))


@dataclass
class Preferences:
    folder: Path
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def settings_path(self) -> Path:
        return self.folder / SETTINGS_FILE

    @property
    def keymap_path(self) -> Path:
        return self.folder / KEYMAP_FILE

    @property
    def theme(self) -> str | None:
        value = self.values.get("theme")
        return value if isinstance(value, str) and value else None

    def remember(self, key: str, value: Any) -> str | None:
        """Store one setting in console.json; returns a problem in words, or None."""
        self.values[key] = value
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.settings_path.with_suffix(".json.tmp")
            temporary.write_text(json.dumps(self.values, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            temporary.replace(self.settings_path)
        except OSError as error:
            return f"Could not save {self.settings_path}: {error.strerror or error}. The setting lasts until you quit."
        return None


def load_preferences(folder: Path) -> Preferences:
    prefs = Preferences(folder)
    path = prefs.settings_path
    if not path.exists():
        return prefs
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        prefs.problems.append(
            f"{path} could not be read ({error}); the default theme is used. Fix or delete the file."
        )
        return prefs
    if not isinstance(loaded, dict):
        prefs.problems.append(f'{path} should hold an object such as {{"theme": "nord"}}; it was ignored.')
        return prefs
    prefs.values = loaded
    return prefs


def display_zone(prefs: Preferences) -> tuple[tzinfo | None, str | None]:
    """The time zone to show times in (None: the computer's local zone), and a problem, if any."""
    from_env = os.environ.get(DISPLAY_TZ_ENV, "").strip()
    name, source = (from_env, DISPLAY_TZ_ENV) if from_env else (prefs.values.get("display_tz"), "display_tz")
    if not name or not isinstance(name, str) or name.lower() == "local":
        return None, None
    try:
        return ZoneInfo(name.strip()), None
    except (ZoneInfoNotFoundError, ValueError):
        where = DISPLAY_TZ_ENV if source == DISPLAY_TZ_ENV else f"display_tz in {prefs.settings_path}"
        return None, (
            f"{where} = {name!r} is not a time zone: use a name such as America/Chicago, UTC or local. "
            "Showing local time."
        )


def load_keymap(prefs: Preferences, known: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The user's keys from keymap.toml: ({binding id: keys}, problems). `known`: id -> description.

    Unknown ids, empty keys and a file that is not TOML are reported; the rest is applied.
    """
    path = prefs.keymap_path
    if not path.exists():
        return {}, []
    try:
        loaded = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        return {}, [f"{path} could not be read ({error}); the default keys are used."]
    table = loaded.get("keys", loaded) if isinstance(loaded.get("keys"), dict) else loaded
    keymap: dict[str, str] = {}
    problems: list[str] = []
    unknown: list[str] = []
    for binding_id, keys in table.items():
        if binding_id not in known:
            unknown.append(binding_id)
            continue
        if not isinstance(keys, str) or not keys.strip():
            problems.append(
                f'{path}: {binding_id} should be a key in quotes, for example {binding_id} = "ctrl+s"; ignored.'
            )
            continue
        keymap[binding_id] = ",".join(k.strip() for k in keys.split(",") if k.strip())
    if unknown:
        problems.append(
            f"{path}: no key has the id {', '.join(repr(u) for u in unknown)}; ignored. "
            f"The ids are: {', '.join(sorted(known))}."
        )
    return keymap, problems


def without_clashes(
    keymap: dict[str, str], contexts: list[list[Binding]], *, normalise: Any = None
) -> tuple[dict[str, str], list[str]]:
    """Drop the moves that would give one key two meanings on the same screen (so `q` always quits).

    `contexts`: the bindings that are active together; `normalise`: maps a keymap to Textual's key
    names (App._normalize_keymap), so "?" and "question_mark" are seen as one key.
    """
    normal = normalise or (lambda mapping: mapping)
    kept = dict(keymap)
    problems: list[str] = []
    for context in contexts:
        owners: dict[str, Binding] = {}
        for binding in sorted(context, key=lambda b: (b.id or "") in kept):  # unmoved keys claim first
            keys = normal({binding.id or "": kept.get(binding.id or "", binding.key)})[binding.id or ""]
            for key in (k.strip() for k in keys.split(",") if k.strip()):
                other = owners.get(key)
                if other is None or other.action == binding.action:
                    owners[key] = binding
                    continue
                if binding.id in kept:
                    problems.append(
                        f"keymap.toml: {binding.id} = {kept[binding.id]!r} would take {key}, which is "
                        f"already {other.description} ({other.id}); {binding.id} keeps its own key."
                    )
                    del kept[binding.id]
                break
    return kept, problems
