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
    assert len(name.encode()) <= layout.MAX_NAME_BYTES
    assert name.endswith(".pdf")


def test_long_names_fit_255_bytes_on_char_boundary() -> None:
    """Ограничение ФС — 255 байт, а не символов: кириллица (2 байта), иероглифы (3), эмодзи (4)."""
    stems = ["я" * 300, "Годовой отчёт о деятельности " * 12, "漢" * 200, "😀" * 100, "a" * 400, "я"]
    users = ["ivanov", "Пётр", "п" * 40, "😀" * 40, ""]
    exts = [".pdf", "", ".ДОКУМЕНТ", ".漢漢漢漢漢漢漢漢漢漢漢漢漢漢漢漢"]
    ids = [FID, "x" * 128]
    for stem in stems:
        for user in users:
            for ext in exts:
                for fid in ids:
                    name = layout.storage_filename(stem + ext, user, fid, WHEN)
                    assert len((name + layout.ATTR_SUFFIX).encode()) <= 255, (stem[:5], user, ext, fid)
                    assert len(name.encode()) <= layout.MAX_NAME_BYTES
                    assert "\ufffd" not in name and name == name.strip()
                    assert "_20261126T143045_" in name
                    key = f"{layout.storage_dir(WHEN)}/{name}"
                    assert layout.valid_key(key)
    name = layout.storage_filename("я" * 150 + ".pdf", "ivanov", FID, WHEN)
    assert name.startswith("я" * 80) and name.endswith("_ivanov_20261126T143045_" + uuid_hex() + ".pdf")
    # короткое имя не режется
    assert layout.storage_filename("я" * 80 + ".pdf", "Пётр", FID, WHEN).startswith("я" * 80 + "_Пётр_")


def uuid_hex() -> str:
    return FID.replace("-", "")

def test_valid_key_rejects_foreign() -> None:
    for bad in ("../2026/01/01/01/x", "2026/01/01/01/../x", "2026/01/01/01/.x", "etc/passwd", "2026/1/1/1/x"):
        assert not layout.valid_key(bad)

