"""Одна загрузка — один след: ingester → storage-element (по HTTP, контекст в заголовках) → PostgreSQL."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from artstore_common import setup_tracing
from artstore_common.testing import UvicornThread, free_port, wait_http

from .conftest import ElementHandle, Fleet

API = "/api/v1"


def test_upload_is_one_trace_across_services_and_database(fleet: Fleet) -> None:
    from ingester_module.app import create_app as create_ingester
    from storage_element.app import create_app as create_element
    from storage_element.settings import Settings as ElementSettings

    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)

    port = free_port()
    kw = fleet._element_kwargs("se-trace", "edit", "1GiB", 10, port)
    element = create_element(ElementSettings(**kw))
    assert setup_tracing(element, "storage-element", "test", processor=processor)
    handle = ElementHandle("se-trace", "edit", f"http://127.0.0.1:{port}", fleet.tmp / "se-trace", 10, kw=kw)
    handle.thread = UvicornThread(element, port=port).__enter__()
    fleet.elements["se-trace"] = handle
    fleet.publish()

    ingester = create_ingester(fleet.ingester_settings())
    assert setup_tracing(ingester, "ingester-module", "test", processor=processor)
    server = UvicornThread(ingester).__enter__()
    fleet.ingesters.append(server)
    wait_http(server.url + "/health/ready")
    exporter.clear()

    r = httpx.post(server.url + API + "/files/upload", headers=fleet.headers(), timeout=30,
                   files={"file": ("след.txt", b"traced upload", "text/plain")})
    assert r.status_code == 201, r.text

    spans = exporter.get_finished_spans()
    root = next(s for s in spans if s.name == "POST /api/v1/files/upload" and s.kind.name == "SERVER")
    trace = [s for s in spans if s.context.trace_id == root.context.trace_id]
    names = {s.name for s in trace}
    assert "PUT /api/v1/files/{file_id}" in names, names  # серверный спан элемента — в том же следе
    assert any((s.attributes or {}).get("db.system") == "postgresql" for s in trace), names
    assert any(s.name.startswith("PUT") and s.kind.name == "CLIENT" for s in trace), names
