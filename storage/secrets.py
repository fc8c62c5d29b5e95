"""Secrets at rest (DESIGN rule 12): what PaySync stores that would let someone act as it in Procore
(the OAuth access and refresh tokens) is encrypted with a key kept outside the database, so a copied
database file alone reveals nothing.

Where the key lives, first found wins:
1. `PAYSYNC_SECRET_KEY` (a Fernet key: 32 bytes, url-safe base64; `paysync` prints a new one with
   `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`);
2. `PAYSYNC_KEY_FILE`, a file readable only by its owner (created 0600 when missing);
3. the operating system's keyring (Windows Credential Manager, macOS Keychain, the Secret Service on
   a Linux desktop), when one is there and works;
4. a key file in the user's configuration folder (not the data folder the database is in), created
   0600 in a 0700 folder.

The key is looked for only when a secret is first read or written, so commands that never touch
one (`paysync status`, `paysync qwc`) create no key. Values are stored as "enc:v1:<Fernet token>";
a value without that prefix is plaintext from before encryption, read as is and encrypted at the
next save.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from platformdirs import user_config_dir

log = logging.getLogger("paysync.secrets")

PREFIX = "enc:v1:"
KEY_ENV = "PAYSYNC_SECRET_KEY"
KEY_FILE_ENV = "PAYSYNC_KEY_FILE"
KEYRING_SERVICE = "paysync"
KEYRING_USER = "database-secret-key"
PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


class SecretKeyError(RuntimeError):
    """The key is missing, unreadable or wrong; the message says where it was looked for and what to do."""


@dataclass(frozen=True)
class KeySource:
    """Where the key comes from: an explicit key, an explicit key file, or the defaults above."""

    key: str | None = None
    key_file: str | None = None
    use_keyring: bool = True

    @classmethod
    def from_environment(cls) -> KeySource:
        return cls(key=os.environ.get(KEY_ENV) or None, key_file=os.environ.get(KEY_FILE_ENV) or None)


def default_key_file() -> Path:
    return Path(user_config_dir("paysync", appauthor=False)) / "secret.key"


def make_private_folder(folder: Path) -> None:
    """Create `folder` (and its parents) readable only by its owner; a folder that already exists
    keeps its mode (paysync status reports one that is looser)."""
    if folder.is_dir():
        return
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)
    if os.name != "nt":
        os.chmod(folder, PRIVATE_FOLDER)


def looser_than_private(path: Path, wanted: int) -> str | None:
    """Why `path` is readable by others than its owner, or None (POSIX; Windows uses ACLs: see
    docs/security.md)."""
    if os.name == "nt" or not path.exists():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & ~wanted & 0o077:
        return f"{path} is mode {mode:03o}; it should be {wanted:03o} (chmod {wanted:03o} '{path}')"
    return None


def _read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise SecretKeyError(
            f"Cannot read the secret key file {path} ({exc.strerror or exc}). It must be readable by the "
            "account PaySync runs as (and by no one else)."
        ) from exc
    except UnicodeDecodeError as exc:
        raise SecretKeyError(f"{path} does not hold a PaySync secret key (it is not text).") from exc
    return _checked_key(text.encode("ascii"), f"the key file {path}")


def _checked_key(key: bytes, where: str) -> bytes:
    try:
        Fernet(key)
    except (ValueError, TypeError) as exc:
        raise SecretKeyError(
            f"{where} is not a PaySync secret key (32 bytes, url-safe base64). Restore the right key, or "
            "remove it and run `paysync login` again (the saved Procore sign-in cannot be read without it)."
        ) from exc
    return key


def _create_key_file(path: Path) -> bytes:
    make_private_folder(path.parent)
    key = Fernet.generate_key()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return _read_key_file(path)  # another process made it first
    except OSError as exc:
        raise SecretKeyError(
            f"Cannot create the secret key file {path} ({exc.strerror or exc}). Set {KEY_FILE_ENV} to a "
            f"writable place, or {KEY_ENV} to a key."
        ) from exc
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key.decode("ascii") + "\n")
    log.info("created the secret key file %s", path)
    return key


def _keyring_key() -> bytes | None:
    """The key from the OS keyring (made there when missing), or None when no usable keyring is
    there (a server without a desktop session has none)."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
            return None
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
        if stored:
            return _checked_key(stored.encode("ascii"), "the key in the system keyring")
        key = Fernet.generate_key()
        keyring.set_password(KEYRING_SERVICE, KEYRING_USER, key.decode("ascii"))
        return key
    except SecretKeyError:
        raise
    except Exception as exc:  # a keyring that is there but locked or broken: fall back to the file
        log.info("the system keyring is not usable (%s); using a key file instead", exc)
        return None


def load_key(source: KeySource) -> tuple[bytes, str]:
    """The key and a description of where it is (for messages, never the key itself). A source
    that names neither key nor file falls back to the process environment, then the defaults."""
    if not source.key and not source.key_file:
        environment = KeySource.from_environment()
        source = KeySource(environment.key, environment.key_file, source.use_keyring)
    if source.key:
        return _checked_key(source.key.strip().encode("ascii"), KEY_ENV), KEY_ENV
    if source.key_file:
        path = Path(source.key_file).expanduser()
        return (_read_key_file(path) if path.exists() else _create_key_file(path)), f"the key file {path}"
    if source.use_keyring:
        key = _keyring_key()
        if key is not None:
            return key, "the system keyring"
    path = default_key_file()
    return (_read_key_file(path) if path.exists() else _create_key_file(path)), f"the key file {path}"


class SecretBox:
    """Encrypts and decrypts stored secrets with the key from `source` (looked up on first use)."""

    def __init__(self, source: KeySource | None = None) -> None:
        self.source = source
        self._fernet: Fernet | None = None
        self.where = "(not loaded yet)"
        self._lock = threading.Lock()

    def _cipher(self) -> Fernet:
        with self._lock:
            if self._fernet is None:
                key, self.where = load_key(self.source or KeySource.from_environment())
                self._fernet = Fernet(key)
            return self._fernet

    def encrypt(self, value: str) -> str:
        return PREFIX + self._cipher().encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # plaintext from before encryption; encrypted at the next save
        try:
            return self._cipher().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise SecretKeyError(
                f"A secret in the database cannot be decrypted with {self.where}: the database was written "
                "with another key (copied from another machine, or the key was replaced). Restore the key, or "
                "run `paysync login` again to store a new Procore sign-in."
            ) from exc


_box = SecretBox()


def configure_secrets(source: KeySource | None) -> None:
    """Use `source` for the key from now on (the CLI passes what the settings say)."""
    global _box
    _box = SecretBox(source)


def secret_box() -> SecretBox:
    return _box
