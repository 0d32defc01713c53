import asyncio
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
