"""Временные ссылки: скачивание без токена (Range, докачка), срок, подпись, лимит, отзыв, события аудита."""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

import httpx
import pytest
from query_fleet import Fleet

from artstore_common import events_stream

BIG = os.urandom(3 * 1024 * 1024 + 77)  # больше SMALL_BODY: идёт потоком
SMALL = b"small file through a link\n"
ALICE = {"sub": "sa-alice", "name": "alice"}
BOB = {"sub": "sa-bob", "name": "bob"}


def _setup(fleet: Fleet, **settings: Any) -> tuple[str, str]:
    fleet.add_element("se-edit", "edit")
    fleet.publish()
    fleet.start_query(**settings)
    fleet.wait_links()
    return fleet.put("se-edit", "Договор №5.pdf", BIG), fleet.put("se-edit", "note.txt", SMALL)


def _create(fleet: Fleet, file_id: str, who: dict[str, str] = ALICE, role: str = "READONLY",
            **body: Any) -> httpx.Response:
    return fleet.q("POST", f"/api/v1/files/{file_id}/links", json={"expires_in": 3600, **body},
                   headers=fleet.factory.headers(role, **who))


def _as(fleet: Fleet, who: dict[str, str], role: str = "READONLY") -> dict[str, str]:
    return fleet.factory.headers(role, **who)


def _problem(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code, r.json()


def _events(fleet: Fleet, kind: str) -> list[dict[str, Any]]:
    entries = fleet.redis.xrange(events_stream(fleet.ns))
    events = [json.loads(fields[b"event"]) for _id, fields in entries]
    return [e for e in events if e["type"] == kind]


def test_link_downloads_without_token_with_ranges(fleet: Fleet) -> None:
    big, small = _setup(fleet)
    r = _create(fleet, big)
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["url"] == f"{fleet.query.url}/api/v1/links/{link['token']}"
    assert link["path"] == f"/api/v1/links/{link['token']}"
    assert link["status"] == "active" and link["owner_id"] == "sa-alice" and link["max_downloads"] is None
    link_id, exp, _sig = link["token"].split(".")
    assert link_id == link["id"] and abs(int(exp) - time.time() - 3600) < 5

    got = fleet.http.get(link["url"])  # без Authorization
    assert got.status_code == 200, got.text
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(BIG).digest()
    assert got.headers["etag"] == f'"{hashlib.sha256(BIG).hexdigest()}"'
    assert "filename*=UTF-8''" in got.headers["content-disposition"]
    assert got.headers["referrer-policy"] == "no-referrer"

    part = fleet.http.get(link["url"], headers={"Range": "bytes=100-199", "If-Range": got.headers["etag"]})
    assert part.status_code == 206 and part.content == BIG[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(BIG)}"
    head = fleet.http.head(link["url"])
    assert head.status_code == 200 and head.headers["content-length"] == str(len(BIG))
    assert fleet.http.get(link["url"], headers={"Range": f"bytes={len(BIG)}-"}).status_code == 416

    s = _create(fleet, small).json()  # малый файл — другой путь отдачи (одним куском)
    assert fleet.http.get(s["url"]).content == SMALL

    # HEAD и 416 — не скачивание; учёт отданного — сразу после ответа, поэтому ждём его
    item = _settled(fleet, f"/api/v1/files/{big}/links", lambda i: i["bytes_sent"] == len(BIG) + 100)
    assert item["uses"] == 2 and item["downloads"] == 1


def _settled(fleet: Fleet, path: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        listed = fleet.q("GET", path, headers=_as(fleet, ALICE)).json()
        if listed["items"] and done(listed["items"][0]):
            return dict(listed["items"][0])
        assert time.monotonic() < deadline, listed
        time.sleep(0.05)


def test_max_downloads_counts_bytes_so_resume_fits(fleet: Fleet) -> None:
    _setup(fleet)
    huge = os.urandom(32 * 1024 * 1024)  # больше буферов TCP на loopback: обрыв виден как обрыв
    file_id = fleet.put("se-edit", "huge.bin", huge)
    url = _create(fleet, file_id, max_downloads=1).json()["url"]
    # клиент оборвал скачивание: неотданное (и застрявшее в буферах сети) возвращается в лимит
    with fleet.http.stream("GET", url) as r:
        assert r.status_code == 200
        first = next(r.iter_raw(65536))
    deadline = time.monotonic() + 10
    while not _events(fleet, "link_used"):  # событие пишется после учёта
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _events(fleet, "link_used")[0]["data"]["outcome"] == "aborted"
    # докачка с того места, до которого дошло у клиента (как curl -C -), укладывается в max_downloads=1
    got = len(first)
    rest = fleet.http.get(url, headers={"Range": f"bytes={got}-"})
    assert rest.status_code == 206, rest.text
    assert hashlib.sha256(first + rest.content).digest() == hashlib.sha256(huge).digest()
    # а второе скачивание целиком — уже нет
    _problem(fleet.http.get(url), 410, "link_exhausted")
    _problem(fleet.http.get(url, headers={"Range": "bytes=0-1048575"}), 410, "link_exhausted")
    assert _events(fleet, "link_used")[-1]["data"]["outcome"] == "link_exhausted"


def test_expired_tampered_and_unknown_links(fleet: Fleet) -> None:
    big, _ = _setup(fleet)
    link = _create(fleet, big, expires_in=1).json()
    time.sleep(1.2)
    _problem(fleet.http.get(link["url"]), 410, "link_expired")

    token = _create(fleet, big).json()["token"]
    link_id, exp, sig = token.split(".")
    base = f"{fleet.query.url}/api/v1/links/"
    bad_sig = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    _problem(fleet.http.get(base + f"{link_id}.{exp}.{bad_sig}"), 403, "link_invalid")
    _problem(fleet.http.get(base + f"{link_id}.{int(exp) + 3600}.{sig}"), 403, "link_invalid")  # продлить нельзя
    _problem(fleet.http.get(base + "garbage"), 403, "link_invalid")
    # подпись другим секретом (другой флот) — тоже недействительна
    from query_module.links.token import make_token
    _problem(fleet.http.get(base + make_token(b"other", link_id, int(exp))), 403, "link_invalid")


def test_create_validation(fleet: Fleet) -> None:
    big, _ = _setup(fleet, link_max_ttl=600)
    _problem(_create(fleet, "00000000-0000-0000-0000-000000000000"), 404, "file_not_found")
    assert _create(fleet, big, expires_in=0).status_code == 422
    assert _create(fleet, big, max_downloads=0).status_code == 422
    assert _create(fleet, big, colour="red").status_code == 422
    _problem(_create(fleet, big, expires_in=601), 422, "validation_error")
    r = fleet.http.post(f"{fleet.query.url}/api/v1/files/{big}/links", json={"expires_in": 60})
    assert r.status_code == 401  # выдать ссылку — только с токеном


def test_revoke_one_and_all_of_account(fleet: Fleet) -> None:
    big, small = _setup(fleet)
    one = _create(fleet, big).json()
    _problem(fleet.q("DELETE", f"/api/v1/links/{one['id']}", headers=_as(fleet, BOB)), 404, "link_not_found")
    assert fleet.http.get(one["url"], headers={"Range": "bytes=0-0"}).status_code == 206
    assert fleet.q("DELETE", f"/api/v1/links/{one['id']}", headers=_as(fleet, ALICE)).status_code == 204
    _problem(fleet.http.get(one["url"]), 403, "link_revoked")

    a, b = _create(fleet, big).json(), _create(fleet, small).json()
    bobs = _create(fleet, small, who=BOB).json()
    _problem(fleet.q("DELETE", "/api/v1/links", params={"account_id": "sa-alice"}, headers=_as(fleet, BOB)),
             403, "forbidden")
    r = fleet.q("DELETE", "/api/v1/links", params={"account_id": "sa-alice"}, headers=_as(fleet, {"sub": "root"},
                                                                                          role="ADMIN"))
    assert r.status_code == 200, r.text
    assert r.json() == {"account_id": "sa-alice", "revoked": 2, "link_ids": sorted([a["id"], b["id"]])}
    for link in (a, b):
        _problem(fleet.http.get(link["url"]), 403, "link_revoked")
    assert fleet.http.get(bobs["url"]).status_code == 200  # чужие ссылки не тронуты
    r = fleet.q("DELETE", "/api/v1/links", headers=_as(fleet, BOB))  # свои — без account_id
    assert r.json()["revoked"] == 1
    _problem(fleet.http.get(bobs["url"]), 403, "link_revoked")
    listed = fleet.q("GET", "/api/v1/links", params={"active": "true"}, headers=_as(fleet, ALICE)).json()
    assert listed["total"] == 0


def test_account_event_from_admin_revokes_its_links(fleet: Fleet) -> None:
    """Событие admin ``account_deleted`` в потоке — группа query-links отзывает все ссылки аккаунта, чужие
    не трогает; повтор события (доставка «хотя бы раз») нового отзыва не даёт."""
    big, small = _setup(fleet)
    alice, bobs = _create(fleet, big).json(), _create(fleet, small, who=BOB).json()
    event = {"id": "ev-account-1", "type": "account_deleted", "occurred_at": time.time(),
             "actor": {"type": "admin_user", "id": "u-1", "name": "root"},
             "data": {"account_id": "sa-alice", "owner_id": "sa-alice", "name": "alice", "client_id": "alice"}}
    stream = events_stream(fleet.ns)
    deadline = time.monotonic() + 20  # группа создаётся с конца потока: событие — после её создания
    while not any(g["name"] in (b"query-links", "query-links") for g in (
            fleet.redis.xinfo_groups(stream) if fleet.redis.exists(stream) else [])):
        assert time.monotonic() < deadline, "query не создал группу query-links"
        time.sleep(0.1)
    for _ in range(2):
        fleet.redis.xadd(stream, {"event": json.dumps(event)})
    deadline = time.monotonic() + 20
    while fleet.http.get(alice["url"], headers={"Range": "bytes=0-0"}).status_code != 403:
        assert time.monotonic() < deadline, "ссылка удалённого аккаунта всё ещё работает"
        time.sleep(0.1)
    _problem(fleet.http.get(alice["url"]), 403, "link_revoked")
    assert fleet.http.get(bobs["url"]).status_code == 200
    time.sleep(1)  # второе событие тоже прочитано
    revoked = [e for e in _events(fleet, "link_revoked") if e["data"].get("reason") == "account_deleted"]
    assert len(revoked) == 1 and revoked[0]["data"]["link_ids"] == [alice["id"]], revoked
    assert revoked[0]["actor"] == {"type": "admin_user", "id": "u-1", "name": "root"}


def test_every_creation_use_and_revocation_is_an_audit_event(fleet: Fleet) -> None:
    big, _ = _setup(fleet)
    pubsub = fleet.redis.pubsub()
    from artstore_common import events_channel
    pubsub.subscribe(events_channel(fleet.ns))
    link = _create(fleet, big).json()
    fleet.http.get(link["url"], headers={"Range": "bytes=0-9", "User-Agent": "curl/8"})
    fleet.q("DELETE", f"/api/v1/links/{link['id']}", headers=_as(fleet, ALICE))
    fleet.http.get(link["url"])

    created = _events(fleet, "link_created")
    assert [e["data"]["link_id"] for e in created] == [link["id"]]
    assert created[0]["data"]["owner_id"] == "sa-alice" and created[0]["data"]["file_id"] == big
    assert created[0]["actor"] == {"type": "service_account", "id": "sa-alice", "name": "alice"}
    deadline = time.monotonic() + 5
    while len(used := _events(fleet, "link_used")) < 2:
        assert time.monotonic() < deadline, used
        time.sleep(0.05)
    ok, refused = used
    assert (ok["data"]["status"], ok["data"]["bytes_sent"], ok["data"]["range"]) == (206, 10, "bytes=0-9")
    assert ok["data"]["user_agent"] == "curl/8" and ok["data"]["ip"] == "127.0.0.1"
    assert refused["data"]["outcome"] == "link_revoked"
    # у скачивания токена нет: действует держатель ссылки
    assert ok["actor"] == refused["actor"] == {"type": "link", "id": link["id"], "name": None}
    revoked = _events(fleet, "link_revoked")
    assert revoked[0]["data"]["link_ids"] == [link["id"]] and revoked[0]["data"]["by"] == "alice"
    assert revoked[0]["actor"]["id"] == "sa-alice"
    # в канал сброса кэшей (query, ingester) события ссылок не попадают: файл от них не меняется
    messages = []
    while (m := pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)) is not None:
        messages.append(m)
    assert messages == []
    pubsub.close()


@pytest.mark.parametrize("role", ["AUDITOR", "USER", "ADMIN"])
def test_every_reader_role_may_share(fleet: Fleet, role: str) -> None:
    big, _ = _setup(fleet)
    assert _create(fleet, big, role=role).status_code == 201


def test_access_log_does_not_carry_the_signature(fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    # путь ссылки — пропуск к файлу: в журнале запросов остаются id и срок, подписи нет
    import logging

    big, _ = _setup(fleet)
    caplog.set_level(logging.INFO, logger="artstore.access")
    token = _create(fleet, big).json()["token"]
    link_id, exp, sig = token.split(".")
    assert fleet.http.get(f"{fleet.query.url}/api/v1/links/{token}", headers={"Range": "bytes=0-0"}).status_code == 206
    deadline = time.monotonic() + 5
    while not (lines := [r for r in caplog.records if r.name == "artstore.access" and link_id in r.getMessage()]):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.05)
    assert f"/api/v1/links/{link_id}.{exp}.…" in lines[0].getMessage()
    assert all(sig not in r.getMessage() and sig not in str(getattr(r, "http_path", "")) for r in caplog.records)


def test_collection_answers_with_trailing_slash(fleet: Fleet) -> None:
    big, _ = _setup(fleet)
    _create(fleet, big)
    assert fleet.q("GET", "/api/v1/links/", headers=_as(fleet, ALICE)).json()["total"] == 1
    assert fleet.q("DELETE", "/api/v1/links/", headers=_as(fleet, ALICE)).json()["revoked"] == 1


def test_out_of_range_parameters_get_422_not_500(fleet: Fleet) -> None:
    # найдено фаззером (tests/e2e/test_fuzz.py): offset вне int64 доходил до PostgreSQL
    _setup(fleet)
    for params in ({"offset": str(2**70)}, {"offset": "1000001"}, {"account_id": "x" * 129}):
        r = fleet.q("GET", "/api/v1/links", params=params, headers=_as(fleet, ALICE, role="ADMIN"))
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert fleet.q("DELETE", "/api/v1/links/" + "x" * 33, headers=_as(fleet, ALICE)).status_code == 422


def test_link_ids_never_look_like_command_line_options() -> None:
    # найдено сквозным тестом CLI: id «-RF-W4hG…» artstore-cli unlink принял за опцию
    from query_module.links.token import new_link_id

    ids = {new_link_id() for _ in range(5000)}
    assert len(ids) == 5000 and all(i[0].isalnum() and len(i) == 22 for i in ids)
