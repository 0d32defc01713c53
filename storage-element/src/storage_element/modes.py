"""Режимы элемента (docs/architecture.md §4.1) и их сохранение между перезапусками.

Файл режима в каталоге данных сильнее конфигурации: оператор перевёл элемент `rw → ro`, и
перезапуск с прежним SE_MODE не должен вернуть запись. Исключение — выход из `ar`: он возможен
только сменой конфигурации (холодные данные надо вернуть осознанно), поэтому при `ar` в файле и
другом режиме в конфигурации побеждает конфигурация.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from artstore_common import ProblemError, atomic_write

_log = logging.getLogger("storage_element.modes")

MODES = ("edit", "rw", "ro", "ar")
OPERATIONS = {
    "edit": {"write", "delete", "read"},
    "rw": {"write", "read"},
    "ro": {"read"},
    "ar": {"read_restored", "restore"},
}
_OP_NAMES = {"write": "запись", "delete": "удаление", "read": "чтение", "read_restored": "чтение восстановленных",
             "restore": "восстановление из холодного хранения"}
TRANSITIONS = {("rw", "ro"), ("ro", "ar")}


def allowed_text(mode: str) -> str:
    return ", ".join(_OP_NAMES[o] for o in sorted(OPERATIONS[mode]))


def check(mode: str, operation: str) -> None:
    ops = OPERATIONS[mode]
    if operation in ops or (operation == "read" and "read_restored" in ops):
        return
    raise ProblemError(
        409, "mode_forbids_operation",
        f"элемент в режиме {mode}: {_OP_NAMES.get(operation, operation)} запрещено; разрешено: {allowed_text(mode)}",
        extra={"mode": mode, "operation": operation},
    )


class ModeState:
    def __init__(self, state_dir: Path, configured: str) -> None:
        self.path = state_dir / "mode.json"
        self.configured = configured
        self.mode = self._load()

    def _load(self) -> str:
        try:
            saved = json.loads(self.path.read_text())["mode"]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            saved = None
        if saved not in MODES:
            mode = self.configured
        elif saved == "ar" and self.configured != "ar":
            _log.warning("выход из режима ar по конфигурации: теперь %s", self.configured)
            mode = self.configured
        elif self.configured == "ar":
            mode = "ar"
        else:
            mode = saved
        self._save(mode)
        return mode

    def _save(self, mode: str) -> None:
        atomic_write(self.path, json.dumps({"mode": mode}).encode())

    def change(self, new: str) -> str:
        if new == self.mode:
            return self.mode
        if (self.mode, new) not in TRANSITIONS:
            raise ProblemError(
                409, "invalid_mode_transition",
                f"переход {self.mode} → {new} не допускается: через API возможны только rw → ro и ro → ar; "
                "режим edit не меняется, выход из ar — сменой конфигурации и перезапуском",
                extra={"mode": self.mode, "requested": new},
            )
        self._save(new)
        old, self.mode = self.mode, new
        _log.warning("режим элемента изменён: %s → %s", old, new)
        return new


class JsonSet:
    """Маленькое устойчивое множество id (повреждённые, восстановленные из ar) в файле состояния."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: dict[str, str] = {}
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        try:
            self.items = {str(k): str(v) for k, v in dict(json.loads(raw)).items()}
        except (ValueError, TypeError):
            # Молча начать с пустого множества — значит забыть, какие файлы повреждены. Элемент всё равно
            # стартует (проверка fixity при чтении найдёт порчу заново), но испорченный файл остаётся
            # оператору рядом, а журнал говорит, что потеряно.
            aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            os.replace(path, aside)
            _log.error("файл состояния %s повреждён (%d байт) и отложен в %s: его отметки потеряны; "
                       "повреждения найдёт проверка при чтении и скраб", path, len(raw), aside.name)

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def add(self, key: str, value: str = "") -> None:
        if self.items.get(key) != value:
            self.items[key] = value
            self._save()

    def discard(self, key: str) -> None:
        if self.items.pop(key, None) is not None:
            self._save()

    def _save(self) -> None:
        atomic_write(self.path, json.dumps(self.items, ensure_ascii=False).encode())
