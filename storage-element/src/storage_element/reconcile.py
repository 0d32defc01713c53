"""Восстановление по WAL при старте, пересборка кэша из attr.json и сверка кэша с файлами.

Истина — файлы: восстановление доводит операцию, только если данные и attr.json уже на местах
(иначе откатывает), пересборка пишет строки только из attr.json, сверка ничего не удаляет.
"""

from __future__ import annotations

import logging
from typing import Any

from artstore_common import WalRecoveryAction, valid_file_id

from . import attrs
from .element import Element
from .layout import ATTR_SUFFIX, valid_key

_log = logging.getLogger("storage_element.reconcile")


async def recover(el: Element) -> dict[str, int]:
    """Разобрать незакрытые операции WAL. Любая ошибка одной операции (OSError, битая запись, сбой БД)
    откладывает её в карантин (`.wal/quarantine/`, ERROR в журнал, action="quarantined") —
    элемент стартует в любом случае; следы отложенной операции покажет /api/v1/cache/consistency."""
    result: dict[str, int] = {WalRecoveryAction.COMPLETED: 0, WalRecoveryAction.ROLLED_BACK: 0,
                              WalRecoveryAction.QUARANTINED: 0}
    ops = el.wal.read_open_ops()
    if el.wal.quarantined:
        result[WalRecoveryAction.QUARANTINED] += el.wal.quarantined
        el.metrics.wal_recoveries.labels(WalRecoveryAction.QUARANTINED).inc(el.wal.quarantined)
    for op in ops:
        key = str(op.get("key", ""))
        try:
            if not valid_key(key):
                raise ValueError(f"недопустимый ключ {key!r}")
            action = await _recover_op(el, op, key)
        except Exception as exc:
            el.wal.quarantine(op, f"{type(exc).__name__}: {exc}", "recover")
            action = WalRecoveryAction.QUARANTINED
        result[action] += 1
        el.metrics.wal_recoveries.labels(action).inc()
        if action is not WalRecoveryAction.QUARANTINED:
            _log.warning("WAL: операция %s %s над %s — %s", op.get("op"), op.get("op_id"), key, action)
    try:
        leftovers = await el.backend.cleanup_tmp()
    except Exception as exc:
        _log.error("временные файлы незавершённых загрузок не убраны: %s", exc)
    else:
        if leftovers:
            _log.warning("удалено %d временных файлов незавершённых загрузок", leftovers)
    el.wal.reset()
    return result


async def _recover_op(el: Element, op: dict[str, Any], key: str) -> WalRecoveryAction:
    if op.get("op") == "delete":
        await el.backend.delete(key)
        await el.cache.delete(str(op.get("file_id")))
        return WalRecoveryAction.COMPLETED
    raw = await el.backend.read_attr(key)
    size = await el.backend.data_size(key)
    attr = None
    if raw is not None and size is not None:
        try:
            attr = attrs.decode(raw)
        except (ValueError, KeyError):
            attr = None
    if attr is not None:
        _pin_location(attr, key)
        try:
            await el.cache.upsert(attr, size)
            return WalRecoveryAction.COMPLETED
        except Exception as exc:
            # Строка кэша не легла — операция не была подтверждена клиенту (201 после неё):
            # убираем пару целиком, иначе элемент не стартует из-за одной плохой записи.
            _log.error("WAL: строка кэша для %s не записана (%s) — откат", key, exc)
            await el.backend.delete(key)
    await el.backend.rollback(key, str(op["op_id"]))
    return WalRecoveryAction.ROLLED_BACK


def _pin_location(attr: dict[str, Any], key: str) -> None:
    """Путь файла — там, где мы его нашли, а не то, что написано внутри attr.json: подложенный или
    чужой attr.json с ``"storage_path": "/etc/passwd"`` не должен стать путём чтения или удаления."""
    attr["storage_path"] = key
    attr["storage_filename"] = key.rsplit("/", 1)[-1]


async def _upsert_rows(el: Element, rows: list[dict[str, Any]], errors: list[str]) -> None:
    """Пачкой; если пачка не легла — по одной, чтобы одна плохая строка не останавливала пересборку."""
    if not rows:
        return
    try:
        await el.cache.upsert_many(rows)
    except Exception:
        for row in rows:
            try:
                await el.cache.upsert(row)
            except Exception as exc:
                errors.append(f"{row.get('storage_path')}: строка кэша не записана: {exc}"[:500])


async def scan(el: Element) -> tuple[dict[str, dict[str, Any]], set[str], set[str], list[str]]:
    """(file_id → attr, ключи данных, ключи attr.json без пары, ошибки) по дереву хранилища."""
    found: dict[str, dict[str, Any]] = {}
    data_keys: set[str] = set()
    attr_keys: set[str] = set()
    errors: list[str] = []
    async for batch in el.backend.list_keys():
        for key in batch:
            if key.endswith(ATTR_SUFFIX):
                attr_keys.add(key[: -len(ATTR_SUFFIX)])
            elif valid_key(key):
                data_keys.add(key)
    for key in sorted(attr_keys):
        if not valid_key(key):
            errors.append(f"{key}: недопустимый ключ — пропущен")
            continue
        raw = await el.backend.read_attr(key)
        if raw is None:
            continue
        try:
            attr = attrs.decode(raw)
        except (ValueError, KeyError) as exc:
            errors.append(f"{key}: {exc}")
            continue
        if not valid_file_id(str(attr.get("file_id", ""))):
            errors.append(f"{key}: недопустимый file_id {attr.get('file_id')!r} — пропущен")
            continue
        _pin_location(attr, key)
        attr["_key"] = key
        found[attr["file_id"]] = attr
    return found, data_keys, attr_keys, errors


async def rebuild(el: Element, mode: str) -> dict[str, Any]:
    await el.cache.create()  # таблицу могли удалить целиком — пересборка начинается с неё
    found, data_keys, _attr_keys, errors = await scan(el)
    existing = await el.cache.all_paths()
    inserted = updated = 0
    batch: list[dict[str, Any]] = []
    for file_id, attr in found.items():
        key = attr.pop("_key")
        if key not in data_keys and not await el.backend.in_cold(key):
            continue  # attr.json без данных — не файл (сверка покажет его как orphan_attr)
        old = existing.get(file_id)
        if old is None:
            inserted += 1
        elif mode == "full" or old != (attr.get("storage_path"), attr.get("checksum"), int(attr.get("file_size", 0))):
            updated += 1
        else:
            continue
        batch.append(attr)
        if len(batch) >= 500:
            await _upsert_rows(el, batch, errors)
            batch = []
    await _upsert_rows(el, batch, errors)
    stale = [fid for fid in existing if fid not in found]
    await el.cache.delete_many(stale)
    await el.refresh_totals()
    return {"scanned": len(found), "inserted": inserted, "updated": updated, "removed": len(stale),
            "errors": errors}


async def consistency(el: Element) -> dict[str, Any]:
    found, data_keys, attr_keys, errors = await scan(el)
    rows = await el.cache.all_paths()
    cold_ok = {k for k in attr_keys - data_keys if el.mode == "ar" and await el.backend.in_cold(k)}
    orphan_data = sorted(data_keys - attr_keys)
    orphan_attr = sorted(attr_keys - data_keys - cold_ok)
    stale, mismatches = [], []
    for file_id, (path, checksum, size) in rows.items():
        attr = found.get(file_id)
        if attr is None or (path not in data_keys and path not in cold_ok):
            stale.append(file_id)
        elif (attr.get("storage_path"), attr.get("checksum"), int(attr.get("file_size", 0))) != (path, checksum, size):
            mismatches.append({"file_id": file_id, "cache": {"storage_path": path, "checksum": checksum,
                                                             "file_size": size},
                               "attr": {k: attr.get(k) for k in ("storage_path", "checksum", "file_size")}})
    missing_rows = sorted(fid for fid, a in found.items() if fid not in rows and a["_key"] in data_keys)
    return {"orphan_data": orphan_data, "orphan_attr": orphan_attr, "stale_rows": sorted(stale),
            "mismatches": mismatches, "missing_rows": missing_rows, "errors": errors,
            "checked": len(found) + len(orphan_data)}
