"""Секреты ``./artstore run``: окружение и .env важнее .data/secrets.json, сохраняется то, что использовано,
а повреждённый файл даёт понятное сообщение вместо трассировки — и флот не поднимает ни одного процесса."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("INITIAL_CLIENT_ID", "INITIAL_CLIENT_SECRET", "INITIAL_ADMIN_USERNAME", "INITIAL_ADMIN_PASSWORD",
        "ADMIN_KEY_ENCRYPTION_KEY", "QUERY_LINK_SECRET")


def _fleet_module() -> Any:
    spec = importlib.util.spec_from_file_location("artstore_fleet", ROOT / "scripts" / "fleet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses ищут свой модуль в sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fleet_py() -> Any:
    return _fleet_module()


def _clean_env() -> dict[str, str]:
    """Окружение без секретов оператора: тест сам решает, что в нём задано."""
    return {k: v for k, v in os.environ.items()
            if k not in KEYS and not k.startswith(("INITIAL_", "ADMIN_INITIAL_"))}


STORED = {"INITIAL_CLIENT_ID": "svc-old", "INITIAL_CLIENT_SECRET": "old-secret", "INITIAL_ADMIN_USERNAME": "admin",
          "INITIAL_ADMIN_PASSWORD": "old-password", "ADMIN_KEY_ENCRYPTION_KEY": "old-kek",
          "QUERY_LINK_SECRET": "old-link-secret"}


@pytest.mark.parametrize("content", [b"", b'{"INITIAL_CLIENT_ID": "svc-old", "INITIAL_CLIENT_SE', b"\x00" * 64],
                         ids=["empty", "truncated", "zeros"])
def test_damaged_secrets_file_stops_with_clear_message(tmp_path: Path, content: bytes) -> None:
    """Как после сбоя питания без fsync: файл пуст или обрезан. Ни трассировки, ни запущенных процессов,
    файл не тронут; в сообщении — что случилось и два выхода."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "secrets.json").write_bytes(content)
    env = {**_clean_env(), "ARTSTORE_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/none",
           "ARTSTORE_REDIS_URL": "redis://127.0.0.1:9/0"}
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "fleet.py"), "run", "--data-dir", str(data)],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Traceback" not in out, out
    assert f"файл {data / 'secrets.json'} повреждён" in r.stderr, out
    assert "восстановите" in r.stderr and "из резервной копии" in r.stderr, out
    for key in ("INITIAL_CLIENT_ID", "INITIAL_CLIENT_SECRET", "ADMIN_KEY_ENCRYPTION_KEY"):
        assert key in r.stderr, out
    assert (data / "secrets.json").read_bytes() == content
    assert not (data / "logs").exists(), "с повреждённым secrets.json не должен стартовать ни один процесс"


@pytest.mark.parametrize(("content", "problem"), [
    (b"   \n", "файл пуст"), (b'["not", "an", "object"]', "ожидался объект JSON"),
    (b'{"INITIAL_CLIENT_ID": "x"}', "нет значений INITIAL_CLIENT_SECRET, ADMIN_KEY_ENCRYPTION_KEY"),
    (b"{\"INITIAL_CLIENT_ID\": \"svc\", \"INITIAL_CLIENT_SECRET\": 1, \"ADMIN_KEY_ENCRYPTION_KEY\": \"k\"}",
     "ожидался объект JSON со строковыми значениями"),
])
def test_every_kind_of_damage_is_named(fleet_py: Any, tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "secrets.json"
    path.write_bytes(content)
    with pytest.raises(fleet_py.SecretsError, match=problem):
        fleet_py.resolve_secrets(path, {"INITIAL_CLIENT_ID": "svc"}, tmp_path / ".env")
    assert path.read_bytes() == content


def test_damaged_file_with_values_in_environment_is_rewritten(
    fleet_py: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "secrets.json"
    path.write_bytes(b"")
    env = {"INITIAL_CLIENT_ID": "svc", "INITIAL_CLIENT_SECRET": "s3", "ADMIN_KEY_ENCRYPTION_KEY": "kek"}
    creds = fleet_py.resolve_secrets(path, env, tmp_path / ".env")
    saved = json.loads(path.read_text())
    assert saved == creds.values
    assert saved["INITIAL_CLIENT_SECRET"] == "s3" and saved["ADMIN_KEY_ENCRYPTION_KEY"] == "kek"
    assert [p.read_bytes() for p in tmp_path.glob("secrets.json.damaged-*")] == [b""]
    assert "повреждён" in capsys.readouterr().out


def test_environment_wins_and_what_is_used_is_stored(
    fleet_py: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(STORED))
    env = {"INITIAL_CLIENT_SECRET": "new-secret", "ADMIN_INITIAL_CLIENT_ID": "svc-prefixed",
           "ADMIN_KEY_ENCRYPTION_KEY": "new-kek"}
    creds = fleet_py.resolve_secrets(path, env, tmp_path / ".env")
    expected = {**STORED, "INITIAL_CLIENT_SECRET": "new-secret", "INITIAL_CLIENT_ID": "svc-prefixed",
                "ADMIN_KEY_ENCRYPTION_KEY": "new-kek"}
    assert creds.values == expected and json.loads(path.read_text()) == expected
    assert creds.sources["INITIAL_ADMIN_PASSWORD"] == "secrets.json"
    assert creds.sources["INITIAL_CLIENT_SECRET"] == "окружение"
    # прежние значения не потеряны: ключ шифрования ключей подписи нельзя просто забыть
    backups = list(tmp_path.glob("secrets.json.*.bak"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == STORED
    out = capsys.readouterr().out
    assert "INITIAL_CLIENT_SECRET (окружение) отличается от сохранённого" in out
    assert "ADMIN_KEY_ENCRYPTION_KEY (окружение) отличается" in out and "прежним ключом" in out
    assert "new-secret" not in out and "new-kek" not in out  # значения в журнал не попадают
    # заданный оператором секрет не печатается, сгенерированный или сохранённый — печатается
    assert creds.shown("INITIAL_CLIENT_SECRET") == "(задан: INITIAL_CLIENT_SECRET из окружения)"
    assert creds.shown("INITIAL_ADMIN_PASSWORD") == "old-password"
    assert creds.shown("INITIAL_CLIENT_ID") == "svc-prefixed"


def test_dotenv_is_honoured_below_environment(fleet_py: Any, tmp_path: Path) -> None:
    """.env читают и сами сервисы (pydantic-settings), поэтому и флот берёт из него INITIAL_*."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("INITIAL_CLIENT_ID=from-dotenv\nINITIAL_CLIENT_SECRET=dotenv-secret\n")
    creds = fleet_py.resolve_secrets(tmp_path / "secrets.json", {"INITIAL_CLIENT_SECRET": "env-secret"}, dotenv)
    assert creds["INITIAL_CLIENT_ID"] == "from-dotenv" and creds.sources["INITIAL_CLIENT_ID"] == ".env"
    assert creds["INITIAL_CLIENT_SECRET"] == "env-secret"


def test_first_start_generates_once(fleet_py: Any, tmp_path: Path) -> None:
    path = tmp_path / "data" / "secrets.json"
    first = fleet_py.resolve_secrets(path, {}, tmp_path / ".env")
    assert set(first.values) == set(KEYS) and all(first.values.values())
    assert set(first.sources.values()) == {"сгенерирован"}
    assert path.stat().st_mode & 0o777 == 0o600
    inode = path.stat().st_ino
    again = fleet_py.resolve_secrets(path, {}, tmp_path / ".env")
    assert again.values == first.values and set(again.sources.values()) == {"secrets.json"}
    assert path.stat().st_ino == inode, "неизменные секреты не переписываются"
    assert not list(path.parent.glob("*.bak"))


def test_secrets_file_of_older_fleet_gains_link_secret(fleet_py: Any, tmp_path: Path) -> None:
    """Флот, созданный до временных ссылок: прежние значения те же, секрет подписи ссылок дописан один раз."""
    path = tmp_path / "secrets.json"
    older = {k: v for k, v in STORED.items() if k != "QUERY_LINK_SECRET"}
    path.write_text(json.dumps(older))
    creds = fleet_py.resolve_secrets(path, {}, tmp_path / ".env")
    assert {k: creds[k] for k in older} == older
    assert len(creds["QUERY_LINK_SECRET"]) >= 32 and creds.sources["QUERY_LINK_SECRET"] == "сгенерирован"
    assert fleet_py.resolve_secrets(path, {}, tmp_path / ".env").values == creds.values
