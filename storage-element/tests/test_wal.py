import asyncio
import json
from pathlib import Path

from storage_element import wal as walmod
from storage_element.wal import Wal


async def test_open_ops_and_torn_line(tmp_path: Path) -> None:
    w = Wal(tmp_path)
    w.reset()
    w.intent("a", "put", key="k1")
    seq = w.intent("b", "put", key="k2")
    w.close_op("a")
    await w.sync(seq)
    w.close()
    seg = w.segments()[-1]
    with open(seg, "ab") as fh:
        fh.write(b'{"phase":"intent","op_id":"c"')  # оборванная запись при сбое
    ops = Wal(tmp_path).read_open_ops()
    assert [o["op_id"] for o in ops] == ["b"]


async def test_group_sync_concurrent(tmp_path: Path) -> None:
    w = Wal(tmp_path)
    w.reset()
    seqs = [w.intent(f"op{i}", "put", key="k") for i in range(50)]
    await asyncio.gather(*(w.sync(s) for s in seqs))
    assert w._synced >= 50
    w.close()


async def test_segments_rotate_and_are_removed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(walmod, "SEGMENT_BYTES", 200)
    w = Wal(tmp_path)
    w.reset()
    for i in range(20):
        w.intent(f"op{i}", "put", key="2026/01/01/00/x")
        w.close_op(f"op{i}")
    assert len(w.segments()) <= 2
    w.intent("open", "put", key="k")
    w.close()
    assert [o["op_id"] for o in Wal(tmp_path).read_open_ops()] == ["open"]


def test_bad_lines_and_unreadable_segment_go_to_quarantine(tmp_path: Path) -> None:
    """Битая строка посреди сегмента, запись без op_id и нечитаемый сегмент — в карантин, остальное читается."""
    (tmp_path / "wal-00000001.log").write_bytes(
        b'{"phase":"intent","op_id":"a","op":"put","key":"k1"}\n'
        b"\xff\xfe{not json\n"
        b"[1, 2]\n"
        b'{"phase":"intent","op_id":["x"]}\n'
        b'{"phase":"intent","op_id":"b","op":"put","key":"k2"}\n'
        b'{"phase":"commit","op_id":"a"}\n'
        b'{"phase":"intent","op_id":"torn"'
    )
    (tmp_path / "wal-00000002.log").mkdir()  # не читается как файл (IsADirectoryError)
    w = Wal(tmp_path)
    assert [o["op_id"] for o in w.read_open_ops()] == ["b"]
    assert w.quarantined == 4
    docs = [json.loads(p.read_bytes()) for p in sorted((tmp_path / "quarantine").glob("*.json"))]
    assert len(docs) == 4
    assert {d["source"] for d in docs} == {"wal-00000001.log", "wal-00000002.log"}
    assert any(d.get("raw", "").startswith("\\xff\\xfe{not json") for d in docs)
    assert all(d["error"] for d in docs)
    segment_note = next(d for d in docs if d["source"] == "wal-00000002.log")
    assert "IsADirectoryError" in segment_note["error"]
    assert list((tmp_path / "quarantine").glob("wal-00000002.log.*"))  # сам сегмент сохранён для оператора
    w.reset()
    assert [p.name for p in w.segments()] == ["wal-00000001.log"]
    assert w.read_open_ops() == []
    w.close()
