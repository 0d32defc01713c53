"""actor события: кто сделал — из токена, из заголовка от имени пользователя (только сервисам) или система."""

from __future__ import annotations

from artstore_common import EventActor, Principal, Role, make_event


def _principal(role: Role, kind: str | None = None) -> Principal:
    claims = {"kind": kind} if kind else {}
    return Principal(subject="sub-1", client_id="cli-1", role=role, name="Сидоров", token_id="t", claims=claims)


def test_actor_of_token_and_round_trip_through_header() -> None:
    actor = EventActor.of(_principal(Role.USER, "user"))
    assert actor == EventActor("user", "sub-1", "Сидоров")
    assert EventActor.of(_principal(Role.ADMIN)).type == "service_account"
    encoded = actor.encode()
    assert encoded.isascii() and EventActor.decode(encoded) == actor
    assert make_event("file_deleted", {"file_id": "f"}, actor)["actor"] == {"type": "user", "id": "sub-1",
                                                                            "name": "Сидоров"}


def test_on_behalf_is_trusted_only_from_service_tokens() -> None:
    told = EventActor("user", "u-9", "Петров").encode()
    service = _principal(Role.ADMIN)
    assert EventActor.on_behalf(service, told) == EventActor("user", "u-9", "Петров")
    # пользователь не подставит чужое имя: его токен не ADMIN
    assert EventActor.on_behalf(_principal(Role.USER, "user"), told) == EventActor("user", "sub-1", "Сидоров")
    # испорченный заголовок — действует сам владелец токена, операция не падает
    for bad in ("", "!!!", "e30", "x" * 3000):
        assert EventActor.on_behalf(service, bad) == EventActor("service_account", "sub-1", "Сидоров")
    assert EventActor.from_dict({"type": 1}) is None and EventActor.from_dict(None) is None
