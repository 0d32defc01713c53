"""Каждый пакет ставится отдельно, как в своём образе (библиотека + сервис, без requirements.txt), и импортирует
своё приложение: необъявленная зависимость (aiohttp у библиотеки) проявляется здесь, а не в образе у оператора."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))

PACKAGES = [
    ("admin-module", "admin_module.app"),
    ("storage-element", "storage_element.app"),
    ("ingester-module", "ingester_module.app"),
    ("query-module", "query_module.app"),
    ("cli", "artstore_cli.app"),
]


@pytest.mark.parametrize(("package", "module"), PACKAGES, ids=[p for p, _ in PACKAGES])
def test_package_installs_alone_and_imports(package: str, module: str, tmp_path: Path) -> None:
    if not Path(UV).exists():
        pytest.skip("нет uv")
    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # uv копирует исходники во временную сборку: рабочее дерево не меняется
    subprocess.run([UV, "pip", "install", "-q", "--python", str(python), str(ROOT / "libs" / "artstore-common"),
                    str(ROOT / package)], check=True, timeout=600)
    out = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{package}: {out.stderr[-2000:]}"
