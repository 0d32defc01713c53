"""Сага переноса при отказах: цель (настоящий процесс) убита посреди копирования, ingester перезапущен.

Ожидание: сага либо завершается (после возвращения цели), либо компенсируется; файл всё время
читается хотя бы с одного элемента, sha256 сходится.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import httpx

API = "/api/v1"


def _tx(url: str, headers: dict[str, str], tx_id: str) -> dict:
    return httpx.get(url + API + f"/transactions/{tx_id}", headers=headers, timeout=10).json()


def _wait_terminal(url: str, headers: dict[str, str], tx_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tx = _tx(url, headers, tx_id)
        if tx["state"] in ("done", "failed", "compensated"):
            return tx
        time.sleep(0.2)
    raise AssertionError(f"сага не завершилась: {tx}")


def test_target_killed_mid_transfer_then_ingester_restart(fleet) -> None:
    fleet.add_element("se-edit", "edit")
    target = fleet.add_element("se-rw", "rw", process=True)
    fleet.publish()
    url = fleet.ingester(saga_max_attempts=200)
    block = os.urandom(1 << 20)
    data = b"".join(hashlib.sha256(bytes([i])).digest() + block for i in range(160))
    r = httpx.post(url + API + "/files/upload", headers=fleet.headers(), timeout=120,
                   files={"file": ("large.bin", data)})
    assert r.status_code == 201, r.text
    file_id = r.json()["file_id"]
    sha = hashlib.sha256(data).hexdigest()
    admin = fleet.headers("ADMIN", sub="admin")
    seen_missing: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        # файл читается хотя бы с одного элемента в любой момент
        while not stop.is_set():
            ok = False
            for el in list(fleet.elements.values()):
                try:
                    if httpx.get(f"{el.url}{API}/files/{file_id}", headers=admin, timeout=2).status_code == 200:
                        ok = True
                        break
                except httpx.HTTPError:
                    continue
            if not ok:
                seen_missing.append(time.monotonic())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    r = httpx.post(url + API + f"/finalize/{file_id}", headers=fleet.headers(), timeout=30)
    assert r.status_code == 202, r.text
    tx_id = r.json()["id"]
    tmp = target.data_dir / ".tmp"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (tmp.exists() and any(tmp.iterdir())):
        time.sleep(0.002)
    target.proc.kill()  # посреди копирования (или сразу после — сага должна пережить и это)
    target.proc.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _tx(url, admin, tx_id)["attempts"] < 1:
        time.sleep(0.1)
    assert _tx(url, admin, tx_id)["state"] == "running"
    # ingester перезапускается, пока цель лежит: новая реплика подхватывает сагу из PostgreSQL и,
    # исчерпав попытки, компенсирует её; файл остаётся на источнике
    fleet.ingesters.pop().__exit__(None, None, None)
    url2 = fleet.ingester(saga_max_attempts=3)
    tx = _wait_terminal(url2, admin, tx_id)
    stop.set()
    watcher.join(5)
    assert not seen_missing
    assert tx["state"] in ("done", "compensated"), tx
    holder = "se-rw" if tx["state"] == "done" else "se-edit"
    got = httpx.get(f"{fleet.elements[holder].url}{API}/files/{file_id}/content", headers=admin, timeout=60).content
    assert hashlib.sha256(got).hexdigest() == sha


def test_target_returns_saga_finishes(fleet) -> None:
    fleet.add_element("se-edit", "edit")
    target = fleet.add_element("se-rw", "rw")
    fleet.publish()
    url = fleet.ingester(saga_max_attempts=50)
    data = os.urandom(300_000)
    file_id = httpx.post(url + API + "/files/upload", headers=fleet.headers(), timeout=30,
                         files={"file": ("x.bin", data)}).json()["file_id"]
    target.stop()
    r = httpx.post(url + API + f"/finalize/{file_id}", headers=fleet.headers(), timeout=30)
    tx_id = r.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _tx(url, fleet.headers(), tx_id)["attempts"] < 2:
        time.sleep(0.1)
    fleet.start_thread(target)
    tx = _wait_terminal(url, fleet.headers(), tx_id)
    assert tx["state"] == "done", tx
    admin = fleet.headers("ADMIN")
    got = httpx.get(f"{target.url}{API}/files/{file_id}/content", headers=admin).content
    assert got == data
    assert httpx.get(f"{fleet.elements['se-edit'].url}{API}/files/{file_id}", headers=admin).status_code == 404
