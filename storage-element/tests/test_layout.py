from datetime import UTC, datetime

from storage_element import layout

WHEN = datetime(2026, 11, 26, 14, 30, 45, tzinfo=UTC)
FID = "a1b2c3d4-0000-4000-8000-000000000001"


def test_name_format() -> None:
    key = layout.make_key("report.pdf", "ivanov", FID, WHEN)
    assert key == "2026/11/26/14/report_ivanov_20261126T143045_a1b2c3d400004000800000000000000" + "1.pdf"
    assert layout.valid_key(key)


def test_cyrillic_kept_unsafe_replaced() -> None:
    name = layout.storage_filename('Отчёт: "квартал" <1>|*?.docx', "Пётр", FID, WHEN)
    assert name.startswith("Отчёт_ _квартал_ _1___")
    assert "Пётр" in name and name.endswith(".docx")
    for ch in '/\\:*?"<>|':
        assert ch not in name


def test_path_tricks_never_become_paths() -> None:
    for evil in ("../../etc/passwd", "..", "/abs/x.txt", "..\\..\\win.ini", ".hidden", "a/../../b.txt", "\x00\x01.sh"):
        key = layout.make_key(evil, "../root", FID, WHEN)
        assert key.count("/") == 4, key
        assert ".." not in key.split("/")
        assert not key.rsplit("/", 1)[1].startswith(".")
        assert layout.valid_key(key)


def test_length_limit_cuts_stem() -> None:
    name = layout.storage_filename("я" * 500 + ".pdf", "u" * 100, FID, WHEN)
    assert len(name) <= 200
    assert name.endswith(".pdf")


def test_file_id_validation() -> None:
    assert layout.valid_file_id(FID)
    for bad in ("../x", "a/b", "", ".hidden", "a" * 200, "x..y"):
        assert not layout.valid_file_id(bad)


def test_valid_key_rejects_foreign() -> None:
    for bad in ("../2026/01/01/01/x", "2026/01/01/01/../x", "2026/01/01/01/.x", "etc/passwd", "2026/1/1/1/x"):
        assert not layout.valid_key(bad)


def test_content_disposition_rfc6266() -> None:
    cd = layout.content_disposition('отчёт "итог".pdf')
    assert cd.startswith('attachment; filename="')
    assert "filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82%20%22%D0%B8%D1%82%D0%BE%D0%B3%22.pdf" in cd
