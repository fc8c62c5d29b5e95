"""Settings that say what is wrong: a missing --env-file, a misspelt key, an unreadable line, a
Procore address that is not https, a Web Connector URL that does not end in /qbwc."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from console.cli import main
from storage.db import close_database


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        status = main(list(args))
    finally:
        close_database()
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_an_env_file_named_on_purpose_must_exist_but_the_default_may_be_absent(
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clean_env()
    missing = tmp_path / "prod.env"
    for args in (["--env-file", str(missing), "qwc"], ["qwc", "--env-file", str(missing)]):
        status, out, err = run(capsys, *args)
        assert (status, out) == (2, "")
        assert err == (
            f"paysync: --env-file {missing}: no such file. Give the path of your configuration file (make one "
            "from .env.example), or leave --env-file out to read .env in the current folder.\n"
        )

    monkeypatch.chdir(tmp_path)  # no .env here: the defaults apply
    status, out, err = run(capsys, "qwc")
    assert status == 0 and err == "" and "<AppURL>http://localhost:8085/qbwc</AppURL>" in out


def test_an_env_file_given_before_the_command_is_read(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clean_env()
    env_file = tmp_path / "paysync.env"
    env_file.write_text("QBWC_USERNAME=from-the-file\n", encoding="utf-8")
    for args in (["--env-file", str(env_file), "qwc"], ["qwc", "--env-file", str(env_file)]):
        status, out, _ = run(capsys, *args)
        assert status == 0 and "<UserName>from-the-file</UserName>" in out


def test_a_misspelt_key_is_a_warning_naming_the_nearest_known_key(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clean_env()
    env_file = tmp_path / "paysync.env"
    env_file.write_text(
        "# PaySync\n"
        "PROCORE_CLIENTID=abc\n"
        "QBWC_PASWORD=long enough password\n"
        "PAYSYNC_SHEDULE=daily\n"
        "PAYSYNC_COLOUR=blue\n"
        "EDITOR=vim\n"
        "QBWC_USERNAME=books\n",
        encoding="utf-8",
    )

    status, out, err = run(capsys, "--env-file", str(env_file), "qwc")

    assert status == 0 and "<UserName>books</UserName>" in out  # the rest of the file is read
    assert err == (
        f"paysync: warning: {env_file}:2: PROCORE_CLIENTID is not a PaySync setting, so it is ignored. "
        "Did you mean PROCORE_CLIENT_ID?\n"
        f"paysync: warning: {env_file}:3: QBWC_PASWORD is not a PaySync setting, so it is ignored. "
        "Did you mean QBWC_PASSWORD?\n"
        f"paysync: warning: {env_file}:4: PAYSYNC_SHEDULE is not a PaySync setting, so it is ignored. "
        "Did you mean PAYSYNC_SCHEDULE?\n"
        f"paysync: warning: {env_file}:5: PAYSYNC_COLOUR is not a PaySync setting, so it is ignored "
        "(.env.example lists them).\n"
    )


def test_a_misspelt_key_shows_in_status_too(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    clean_env(PAYSYNC_DATABASE_URL=db_url)
    env_file = tmp_path / "paysync.env"
    env_file.write_text("QBWC_PASWORD=long enough password\n", encoding="utf-8")
    status, out, _ = run(capsys, "--env-file", str(env_file), "status")
    assert status == 1  # Procore is not configured here
    assert (
        f"Note           {env_file}:1: QBWC_PASWORD is not a PaySync setting, so it is ignored. "
        "Did you mean QBWC_PASSWORD?\n"
    ) in out


@pytest.mark.parametrize(
    ("content", "line", "shown"),
    [
        ("QBWC_USERNAME=books\nthis is not a setting\n", 2, "this is not a setting"),
        ('QBWC_USERNAME=books\n\nQBWC_PASSWORD="unfinished\n', 3, 'QBWC_PASSWORD="unfinished'),
    ],
    ids=["no-equals", "open-quote"],
)
def test_a_line_that_cannot_be_read_names_the_file_and_line(
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str,
    line: int,
    shown: str,
) -> None:
    clean_env()
    env_file = tmp_path / "paysync.env"
    env_file.write_text(content, encoding="utf-8")

    status, out, err = run(capsys, "--env-file", str(env_file), "qwc")

    assert (status, out) == (2, "")
    assert err == (
        f"paysync: {env_file}:{line}: this line cannot be read ({shown!r}). Write KEY=value, one per line; put "
        'quotes around a value with spaces or # (KEY="a value"), close every quote, and start comments with #.\n'
    )


def test_an_env_file_that_is_not_utf8_is_named(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clean_env()
    env_file = tmp_path / "paysync.env"
    env_file.write_bytes(b"QBWC_USERNAME=b\xf6oks\n")
    status, _, err = run(capsys, "--env-file", str(env_file), "qwc")
    assert status == 2
    assert err == (
        f"paysync: {env_file} is not a text file in UTF-8 (byte 15 cannot be read): save it as UTF-8 (plain "
        "text) and try again.\n"
    )


@pytest.mark.parametrize("key", ["PROCORE_API_BASE", "PROCORE_LOGIN_BASE"])
def test_procore_is_reached_only_over_https_except_on_this_machine(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], key: str
) -> None:
    env_file = clean_env(**{key: "http://api.procore.com"})
    status, _, err = run(capsys, "--env-file", str(env_file), "qwc")
    assert status == 2
    assert err == (
        f"paysync: {key}='http://api.procore.com' uses plain http://: PaySync talks to Procore only over "
        "https://, because the Procore sign-in travels with every request. Write "
        f"{key}=https://api.procore.com (http:// is accepted only for a test server on this machine, such as "
        "http://127.0.0.1).\n"
    )

    env_file = clean_env(**{key: "api.procore.com"})
    status, _, err = run(capsys, "--env-file", str(env_file), "qwc")
    assert status == 2 and err.startswith(f"paysync: {key}='api.procore.com' is not a web address: write it")

    for loopback in ("http://127.0.0.1:8080", "http://localhost:9000", "http://[::1]:8080"):
        env_file = clean_env(**{key: loopback})
        assert run(capsys, "--env-file", str(env_file), "qwc")[0] == 0


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("https://pay.example.com", "https://pay.example.com/qbwc"),
        ("https://pay.example.com/qbwc/", "https://pay.example.com/qbwc"),
        ("https://pay.example.com/paysync", "https://pay.example.com/paysync/qbwc"),
    ],
)
def test_the_web_connector_url_must_end_in_qbwc(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], url: str, fix: str
) -> None:
    env_file = clean_env(QBWC_PUBLIC_URL=url)
    status, out, err = run(capsys, "--env-file", str(env_file), "qwc")
    assert (status, out) == (2, "")
    assert err == (
        f"paysync: QBWC_PUBLIC_URL={url!r} must end in /qbwc, the path where PaySync answers the Web "
        f"Connector: write e.g. QBWC_PUBLIC_URL={fix}\n"
    )


def test_the_web_connector_url_must_be_a_web_address(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = clean_env(QBWC_PUBLIC_URL="ftp://pay.example.com/qbwc")
    status, _, err = run(capsys, "--env-file", str(env_file), "qwc")
    assert status == 2
    assert err == (
        "paysync: QBWC_PUBLIC_URL='ftp://pay.example.com/qbwc' is not a web address: write the address the "
        "Web Connector reaches PaySync at, ending in /qbwc, e.g. QBWC_PUBLIC_URL=https://paysync.example.com/qbwc\n"
    )
