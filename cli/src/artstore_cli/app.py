"""Команды artstore-cli (typer + rich). Ошибка сервиса печатается его ``detail``, код выхода — 1."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from . import transfer
from .api import DEFAULT_ADMIN_URL, DEFAULT_INGESTER_URL, DEFAULT_QUERY_URL, CliError, Session
from .state import Store

app = typer.Typer(
    name="artstore-cli", no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
    help="ArtStore из терминала: вход, загрузка с докачкой (tus), поиск, метаданные, скачивание с проверкой "
         "sha256, временные ссылки без токена, удаление, finalize. Адреса сервисов — опциями или "
         "ARTSTORE_ADMIN_URL / ARTSTORE_INGESTER_URL "
         "/ ARTSTORE_QUERY_URL (по умолчанию — порты ./artstore run).",
)
# soft_wrap: сообщения не рвутся по ширине терминала — их читают и скрипты (grep, cut)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _session(ctx: typer.Context) -> Session:
    session: Session = ctx.obj
    return session


@app.callback()
def _root(
    ctx: typer.Context,
    admin_url: Annotated[str, typer.Option(envvar="ARTSTORE_ADMIN_URL", help="admin-module (токены)")]
    = DEFAULT_ADMIN_URL,
    ingester_url: Annotated[str, typer.Option(envvar="ARTSTORE_INGESTER_URL", help="ingester-module (запись)")]
    = DEFAULT_INGESTER_URL,
    query_url: Annotated[str, typer.Option(envvar="ARTSTORE_QUERY_URL", help="query-module (поиск, чтение)")]
    = DEFAULT_QUERY_URL,
) -> None:
    ctx.obj = Session(admin_url.rstrip("/"), ingester_url.rstrip("/"), query_url.rstrip("/"), Store())
    ctx.call_on_close(ctx.obj.close)


def _bytes(n: int | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("Б", "КиБ", "МиБ", "ГиБ", "ТиБ"):
        if value < 1024 or unit == "ТиБ":
            return f"{int(value)} {unit}" if unit == "Б" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} Б"


def _print_json(data: Any) -> None:
    # print, а не rich: вывод для jq и скриптов, без переносов и разметки
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@contextmanager
def _bar(title: str, total: int) -> Iterator[tuple[Progress, Any]]:
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                        TransferSpeedColumn(), TimeRemainingColumn(), console=err, transient=False)
    with progress:
        yield progress, progress.add_task(title, total=total)


# --- вход ------------------------------------------------------------------------------------------
@app.command()
def login(
    ctx: typer.Context,
    client_id: Annotated[str, typer.Option(envvar="ARTSTORE_CLIENT_ID", prompt=True, help="client_id аккаунта")],
    client_secret: Annotated[str, typer.Option(envvar="ARTSTORE_CLIENT_SECRET", prompt=True, hide_input=True,
                                               help="client_secret (лучше из окружения, чем в истории shell)")],
    scope: Annotated[str | None, typer.Option(help="сузить права токена: admin, user, auditor или readonly")]
    = None,
) -> None:
    """Получить токен (OAuth 2.0 client credentials) и сохранить вход: токен обновится сам по истечении."""
    s = _session(ctx)
    token = s.login(client_id, client_secret, scope)
    until = datetime.fromtimestamp(token["expires_at"]).strftime("%H:%M:%S")
    out.print(f"Вход выполнен: [bold]{escape(client_id)}[/], scope [bold]{escape(token['token_scope'])}[/], "
              f"токен до {until}. Сохранено в {s.store.root} (0600).")


@app.command()
def logout(ctx: typer.Context) -> None:
    """Забыть сохранённый вход (client_secret и токен)."""
    removed = _session(ctx).store.forget_credentials()
    out.print("Вход забыт." if removed else "Сохранённого входа не было.")


# --- загрузка --------------------------------------------------------------------------------------
def _meta(items: list[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r}: ожидается ключ=значение", param_hint="--meta")
        meta[key.strip()] = value
    return meta


@app.command()
def upload(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="файл")],
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="тег (можно несколько раз)")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", "-m", help="метаданные ключ=значение (несколько)")]
    = None,
    description: Annotated[str, typer.Option("--description", "-d", help="описание")] = "",
    retention: Annotated[str, typer.Option(help="temporary (с TTL) или permanent")] = "temporary",
    ttl_days: Annotated[int | None, typer.Option(help="срок хранения temporary, дней (1..36500)")] = None,
    chunk_mib: Annotated[int, typer.Option(min=1, max=32, help="размер куска tus, МиБ")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="итог JSON-ом")] = False,
) -> None:
    """Загрузить файл по tus с докачкой: тот же запуск после обрыва продолжит с принятого сервером места."""
    s = _session(ctx)
    if retention not in ("temporary", "permanent"):
        raise typer.BadParameter("допустимо temporary или permanent", param_hint="--retention")
    size = path.stat().st_size
    key = s.store.upload_key(path, s.ingester_url)
    saved = s.store.upload(key) or {}
    fields = transfer.upload_fields(path, description=description, tags=tag or [], meta=_meta(meta or []),
                                    retention=retention, ttl_days=ttl_days)
    sha = saved.get("sha256")
    if not sha:
        with _bar("sha256", size) as (bar, task):
            sha = transfer.sha256_file(path, lambda n: bar.advance(task, n)).hexdigest()
        s.store.save_upload(key, {"path": str(path.resolve()), "sha256": sha})
    err.print(f"sha256 {sha}")
    uploader = transfer.Uploader(s, transfer.UploadPlan(path, size, fields, chunk_mib * 1024 * 1024), key)
    url = saved.get("url")
    offset = uploader.resume_offset(url) if url else None
    if url and offset is None:
        err.print("[yellow]прежняя загрузка на сервере истекла — начинаю заново[/]")
    if offset is None:
        url, offset = uploader.create(), 0
        # адрес — до первого байта: kill -9 посреди передачи не теряет уже принятое
        s.store.save_upload(key, {"path": str(path.resolve()), "sha256": sha, "url": url})
    elif offset:
        err.print(f"продолжаю с {_bytes(offset)} из {_bytes(size)} (принято сервером)")
    assert url is not None
    started = time.monotonic()
    with _bar(path.name, size) as (bar, task):
        bar.update(task, completed=offset)
        uploader.send(url, offset, lambda n: bar.advance(task, n))
    result = uploader.result(url)
    s.store.drop_upload(key)
    if result.get("checksum") != sha:
        raise CliError(f"сервер сохранил файл {result.get('file_id')} с sha256 {result.get('checksum')}, "
                       f"а у файла здесь {sha}: проверьте файл и загрузите снова")
    if as_json:
        _print_json(result)
        return
    elapsed = max(time.monotonic() - started, 1e-6)
    out.print(f"[green]Загружен[/] {escape(str(result.get('original_filename')))}: file_id [bold]"
              f"{result.get('file_id')}[/], {_bytes(result.get('file_size'))}, элемент "
              f"{result.get('storage_element_id')}, sha256 совпал ({(size - offset) / elapsed / 2**20:.1f} МиБ/с)")


# --- поиск и метаданные ---------------------------------------------------------------------------
@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="текст (словоформы, \"фраза\", -исключение)")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="тег (все указанные)")] = None,
    filename: Annotated[str | None, typer.Option(help="имя файла")] = None,
    mode: Annotated[str, typer.Option(help="fulltext, partial или exact")] = "fulltext",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    sort_by: Annotated[str, typer.Option(help="relevance, created_at, file_size, name")] = "relevance",
    as_json: Annotated[bool, typer.Option("--json", help="ответ сервиса как есть (JSON)")] = False,
) -> None:
    """Найти файлы на всех элементах хранения."""
    s = _session(ctx)
    body: dict[str, Any] = {"query": query, "filename": filename, "tags": tag or None, "mode": mode,
                            "limit": limit, "offset": offset, "sort_by": sort_by}
    resp = s.request("POST", s.query_url + "/api/v1/search", "поиск",
                     json={k: v for k, v in body.items() if v is not None})
    data = resp.json()
    if as_json:
        _print_json(data)
        return
    table = Table(title=f"Найдено: {data.get('total_count')}" + (" (не все элементы ответили)"
                                                                  if data.get("partial") else ""))
    table.add_column("file_id", no_wrap=True)  # id копируют целиком — не переносить
    for column in ("имя", "размер", "создан", "теги", "элемент"):
        table.add_column(column, overflow="fold")
    for row in data.get("results", []):
        table.add_row(str(row.get("file_id")), escape(str(row.get("original_filename") or "")),
                      _bytes(row.get("file_size")), str(row.get("created_at") or "")[:16].replace("T", " "),
                      escape(", ".join(row.get("tags") or [])), str(row.get("storage_element_id") or ""))
    out.print(table)
    if data.get("unavailable_storage_elements"):
        err.print("[yellow]не ответили:[/] " + ", ".join(map(str, data["unavailable_storage_elements"])))


def _metadata(s: Session, file_id: str) -> dict[str, Any]:
    return dict(s.request("GET", f"{s.query_url}/api/v1/files/{file_id}", "метаданные").json())


@app.command()
def info(
    ctx: typer.Context,
    file_id: Annotated[str, typer.Argument(help="file_id")],
    as_json: Annotated[bool, typer.Option("--json", help="как есть (JSON)")] = False,
) -> None:
    """Метаданные файла (attr.json и элемент, где он лежит)."""
    meta = _metadata(_session(ctx), file_id)
    if as_json:
        _print_json(meta)
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in meta.items():
        shown = _bytes(value) if key == "file_size" else (
            json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value))
        table.add_row(key, escape(shown))
    out.print(table)


# --- скачивание ------------------------------------------------------------------------------------
@app.command()
def download(
    ctx: typer.Context,
    file_id: Annotated[str, typer.Argument(help="file_id")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="куда (файл или каталог)")] = None,
    force: Annotated[bool, typer.Option("--force", help="перезаписать существующий файл")] = False,
) -> None:
    """Скачать файл: обрыв докачивается тем же запуском (Range), sha256 сверяется с ETag/Repr-Digest."""
    s = _session(ctx)
    meta = _metadata(s, file_id)
    expected, size = str(meta.get("checksum") or ""), int(meta.get("file_size") or 0)
    name = transfer.safe_name(str(meta.get("original_filename") or ""), file_id)
    target = output or Path(name)
    if target.is_dir():
        target = target / name
    if target.exists() and not force:
        raise CliError(f"{target} уже есть; --force — перезаписать")
    part = target.with_name(target.name + ".part")
    if part.exists() and part.stat().st_size:
        err.print(f"продолжаю: на диске {_bytes(part.stat().st_size)} из {_bytes(size)}")
    with _bar(name, size) as (bar, task):
        actual = transfer.download(s, file_id, target, expected, size, advance=lambda n: bar.advance(task, n))
    out.print(f"[green]Скачан[/] {escape(str(target))}: {_bytes(size)}, sha256 {actual} совпал")


# --- временные ссылки ------------------------------------------------------------------------------
@app.command()
def link(
    ctx: typer.Context,
    file_id: Annotated[str, typer.Argument(help="file_id")],
    expires_in: Annotated[int, typer.Option("--expires-in", min=1, help="срок ссылки, секунд")] = 3600,
    max_downloads: Annotated[int | None, typer.Option("--max-downloads", min=1,
                                                      help="сколько раз можно скачать файл целиком")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="ответ сервиса как есть (JSON)")] = False,
) -> None:
    """Временная ссылка на скачивание без токена (curl, браузер): URL — в stdout, срок и id — в stderr."""
    s = _session(ctx)
    body: dict[str, Any] = {"expires_in": expires_in}
    if max_downloads is not None:
        body["max_downloads"] = max_downloads
    data = s.request("POST", f"{s.query_url}/api/v1/files/{file_id}/links", "ссылка", ok=(201,), json=body).json()
    if as_json:
        _print_json(data)
        return
    # только URL и перевод строки: URL=$(artstore-cli link …) без разметки и переносов rich
    sys.stdout.write(f"{data['url']}\n")
    until = datetime.fromisoformat(str(data["expires_at"])).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    limit = f", скачиваний не больше {max_downloads}" if max_downloads else ""
    err.print(f"ссылка {data['id']} действует до {until}{limit}; отозвать: artstore-cli unlink {data['id']}")


@app.command()
def unlink(
    ctx: typer.Context,
    link_id: Annotated[str | None, typer.Argument(help="id ссылки (из artstore-cli link)")] = None,
    all_links: Annotated[bool, typer.Option("--all", help="отозвать все действующие ссылки своей учётной записи")]
    = False,
) -> None:
    """Отозвать временную ссылку (или все свои ссылки): по ней больше не скачать (403)."""
    s = _session(ctx)
    if all_links == (link_id is not None):
        raise typer.BadParameter("укажите id ссылки или --all (одно из двух)")
    if link_id is not None:
        s.request("DELETE", f"{s.query_url}/api/v1/links/{link_id}", "отзыв ссылки", ok=(204,))
        out.print(f"Ссылка {link_id} отозвана")
        return
    revoked = s.request("DELETE", f"{s.query_url}/api/v1/links", "отзыв ссылок").json()
    out.print(f"Отозвано ссылок: {revoked['revoked']}")


# --- удаление и finalize ---------------------------------------------------------------------------
@app.command()
def rm(ctx: typer.Context, file_id: Annotated[str, typer.Argument(help="file_id")]) -> None:
    """Удалить файл (только temporary-файлы на элементе в режиме edit)."""
    s = _session(ctx)
    s.request("DELETE", f"{s.ingester_url}/api/v1/files/{file_id}", "удаление", ok=(204,))
    out.print(f"Удалён {file_id}")


@app.command()
def finalize(
    ctx: typer.Context,
    file_id: Annotated[str, typer.Argument(help="file_id")],
    wait: Annotated[bool, typer.Option(help="ждать конца переноса (до 2 минут)")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="транзакция JSON-ом")] = False,
) -> None:
    """Сделать temporary-файл постоянным: перенос на элемент rw (сага copy → verify → switch → delete)."""
    s = _session(ctx)
    resp = s.request("POST", f"{s.ingester_url}/api/v1/finalize/{file_id}", "finalize", ok=(200, 202),
                     params={"wait": "true" if wait else "false"}, timeout=150.0)
    tx = resp.json()
    if as_json:
        _print_json(tx)
    if tx.get("state") in ("failed", "compensated"):
        raise CliError(f"finalize {file_id} не удался: {tx.get('error') or tx.get('state')} "
                       f"(транзакция {tx.get('id')})")
    if not as_json:
        where = f" → {tx.get('target')}" if tx.get("target") else ""
        out.print(f"finalize {file_id}: {tx.get('state')}{where} (транзакция {tx.get('id')})")


def main() -> None:
    try:
        app()
    except CliError as exc:
        err.print(f"[red]Ошибка:[/] {escape(str(exc))}")
        sys.exit(1)
