"""Контракт файла: одно правило id, один кодек X-Artstore-Meta, один Content-Disposition для всех сервисов."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from artstore_common import FileId, FileMeta, ProblemError, content_disposition, decode_meta, encode_meta, valid_file_id

GOOD = ("a", "0b2c7c1e-6b0f-4f39-9e9c-7e1a2b3c4d5e", "report.v2", "A_b-c.d")
BAD = ("", "../x", "a/b", ".hidden", "-x", "a" * 129, "x..y", "..", "abc\n", "a%3Fb", "a b", "файл")


@pytest.mark.parametrize("file_id", GOOD)
def test_good_ids_pass_the_rule_and_the_route_type(file_id: str) -> None:
    assert valid_file_id(file_id)
    assert TypeAdapter(FileId).validate_python(file_id) == file_id


@pytest.mark.parametrize("file_id", BAD)
def test_bad_ids_fail_the_rule_and_the_route_type(file_id: str) -> None:
    """Правило и тип параметра пути отвергают одно и то же (``..`` — тоже, хотя шаблон его пропускает)."""
    assert not valid_file_id(file_id)
    with pytest.raises(ValidationError):
        TypeAdapter(FileId).validate_python(file_id)


def test_meta_roundtrip_keeps_cyrillic_and_types() -> None:
    meta = FileMeta(original_filename="Отчёт за 2026.pdf", tags=["отчёт", "отчёт", " 2026 "],
                    metadata={"отдел": "бухгалтерия", "n": 1}, retention_policy="permanent")
    back = decode_meta(encode_meta(meta))
    assert back == meta.model_copy(update={"tags": ["отчёт", "2026"]})
    assert "=" not in encode_meta(meta)  # base64url без выравнивания: заголовок без лишних символов


@pytest.mark.parametrize("header", [None, "", "не base64!", "e30", encode_meta({"original_filename": "a\x00b"})])
def test_bad_meta_header_is_a_clear_422(header: str | None) -> None:
    with pytest.raises(ProblemError) as info:
        decode_meta(header)
    assert info.value.status == 422 and info.value.code == "invalid_meta"


def test_content_disposition_has_a_transliterated_ascii_fallback() -> None:
    """``curl -OJ`` читает только ``filename``: кириллица должна стать латиницей, а не подчёркиваниями."""
    cd = content_disposition("Отчёт за 2026.pdf")
    assert cd.startswith('attachment; filename="Otchet za 2026.pdf"; ')
    assert "filename*=UTF-8''%D0%9E%D1%82%D1%87%D1%91%D1%82%20%D0%B7%D0%B0%202026.pdf" in cd
    quoted = content_disposition('отчёт "итог";.pdf')
    assert 'filename="otchet _itog.pdf"' in quoted  # кавычки и «;» не ломают заголовок
    assert content_disposition("ПРИВЕТ").startswith('attachment; filename="PRIVET"')
    assert content_disposition("文件.pdf").startswith('attachment; filename="download.pdf"')
