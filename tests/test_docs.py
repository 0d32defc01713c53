"""Ссылки репозитория на документы ведут туда, где что-то есть.

Двенадцать модулей ссылались на ARCHITECTURE.md, которого в репозитории нет: читатель кода шёл по ссылке
в пустоту. Здесь проверяется каждая ссылка в коде, конфигурации и markdown: путь к ``*.md`` существует
в репозитории (не снаружи), раздел ``§N`` документа — заголовок с этим номером, относительная ссылка
markdown указывает на существующий файл, а ``docs/README.md`` перечисляет все документы ``docs/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SKIP_DIRS = {".git", ".venv", "node_modules", ".data", ".angular", "dist", "__pycache__", ".mypy_cache",
              ".ruff_cache", ".pytest_cache", "test-artifacts"}
_SKIP_PATHS = {"bench/results"}
_SKIP_NAMES = {"package-lock.json"}
_SUFFIXES = {".py", ".md", ".yml", ".yaml", ".toml", ".ts", ".mjs", ".js", ".sh", ".json", ".example", ".conf",
             ".ini", ".cfg", ".html", ".mako", ".txt", ".in"}
_NAMES = {"Dockerfile", "artstore", "run", ".dockerignore", ".gitignore"}

# Путь к документу: начинается с имени (не с середины чужого пути или адреса http), кончается на .md.
_DOC = r"(?<![\w./-])(?:\.\.?/)*[A-Za-z0-9_][\w./-]*\.md(?![\w-])"
# Что стоит перед «§N»: документ репозитория, внешний источник со своей нумерацией или имя без расширения.
_MARKER = re.compile(rf"(?P<doc>{_DOC})|(?P<ext>\b(?:RFC|issue)\s*\d+)|(?P<bare>\bARCHITECTURE\b)")
_SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)")
# Документ относится к «§N», только если между ними нет слов: «docs/architecture.md §1, §4», «(RFC 6749 §3.3)».
# В «дашборды — monitoring/README.md; метки — §7» номер — раздел этого же документа.
_SEP = r"[\s,;`'\")\]*_и]"
_ADJACENT = re.compile(rf"{_SEP}*(?:§\s?\d+(?:\.\d+)*{_SEP}*)*")
# Нумерованный раздел: «## §3 Элемент», «### §3.4 WAL» или «## 3. Запись».
_HEADING = re.compile(r"^#{1,6}\s+§?(\d+(?:\.\d+)*)[\s.]", re.MULTILINE)
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def text_files(root: Path, exclude: set[Path] | None = None) -> Iterator[Path]:
    exclude = exclude or set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames
                             if d not in _SKIP_DIRS and (rel / d).as_posix() not in _SKIP_PATHS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name in _SKIP_NAMES or path in exclude:
                continue
            if path.suffix in _SUFFIXES or name in _NAMES:
                yield path


def resolve(root: Path, source: Path, ref: str) -> Path | None:
    """Файл документа, на который ссылается ``source``; None — такого в репозитории нет.

    Путь ищется от каталога ссылающегося файла и от корня; голое имя (``README.md``) — ещё и в каталогах
    выше и в ``docs/``. Всё, что выходит за корень репозитория (``../shared/…``), не считается: документ,
    которого нет в репозитории, читателю кода недоступен.
    """
    candidates = [source.parent / ref, root / ref]
    if "/" not in ref:
        candidates += [parent / ref for parent in source.parents if parent.is_relative_to(root)]
        candidates.append(root / "docs" / ref)
    for candidate in candidates:
        path = candidate.resolve()
        if path.is_relative_to(root) and path.is_file():
            return path
    return None


def sections(doc: Path) -> set[str]:
    return set(_HEADING.findall(doc.read_text(encoding="utf-8")))


def check_citations(root: Path, files: list[Path]) -> list[Problem]:
    """Пути к *.md и разделы §N в тексте файлов."""
    problems: list[Problem] = []
    section_cache: dict[Path, set[str]] = {}

    def sections_of(doc: Path) -> set[str]:
        if doc not in section_cache:
            section_cache[doc] = sections(doc)
        return section_cache[doc]

    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        rel = path.relative_to(root)
        own = sections_of(path) if path.suffix == ".md" else set()
        for number, line in enumerate(text.splitlines(), 1):
            markers = list(_MARKER.finditer(line))
            for m in markers:
                if m.group("doc") and resolve(root, path, m.group("doc")) is None:
                    problems.append(Problem(rel, number, f"документа {m.group('doc')} нет в репозитории"))
                elif m.group("bare"):
                    problems.append(Problem(rel, number, "ссылка на ARCHITECTURE — такого документа в "
                                                         "репозитории нет (архитектура — docs/architecture.md)"))
            for sec in _SECTION.finditer(line):
                before = [m for m in markers if m.end() <= sec.start()]
                marker = before[-1] if before and _ADJACENT.fullmatch(line, before[-1].end(), sec.start()) else None
                if marker is None:
                    # «§N» без документа перед ним — раздел этого же документа (если он нумерует разделы)
                    if own and sec.group(1) not in own:
                        problems.append(Problem(rel, number, f"§{sec.group(1)}: в этом документе нет такого "
                                                             "раздела"))
                    continue
                if not marker.group("doc"):
                    continue  # внешний источник (RFC, issue) или уже отмеченное ARCHITECTURE
                doc = resolve(root, path, marker.group("doc"))
                if doc is not None and sec.group(1) not in sections_of(doc):
                    problems.append(Problem(rel, number, f"{marker.group('doc')} §{sec.group(1)}: в документе "
                                                         "нет заголовка с этим номером"))
    return problems


def check_links(root: Path, files: list[Path]) -> list[Problem]:
    """Относительные ссылки markdown ведут на существующие файлы репозитория."""
    problems: list[Problem] = []
    for path in files:
        if path.suffix != ".md":
            continue
        rel = path.relative_to(root)
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            for m in _LINK.finditer(line):
                target = m.group(1)
                if _SCHEME.match(target) or target.startswith("#"):
                    continue
                target = target.split("#", 1)[0]
                base = root if target.startswith("/") else path.parent
                resolved = (base / target.lstrip("/")).resolve()
                if not resolved.is_relative_to(root) or not resolved.exists():
                    problems.append(Problem(rel, number, f"ссылка ({m.group(1)}) ведёт на несуществующий файл"))
    return problems


def _repo_files() -> list[Path]:
    return list(text_files(ROOT, exclude={Path(__file__).resolve()}))


def _report(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def test_cited_documents_and_sections_exist() -> None:
    problems = check_citations(ROOT, _repo_files())
    assert not problems, "ссылки на несуществующие документы или разделы:\n" + _report(problems)


def test_markdown_links_resolve() -> None:
    problems = check_links(ROOT, _repo_files())
    assert not problems, "битые относительные ссылки в markdown:\n" + _report(problems)


def test_architecture_sections_numbered_once() -> None:
    # код ссылается на разделы по номеру: номер не может повторяться или пропадать посреди документа
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    top = [int(n) for n in re.findall(r"^## §(\d+)[\s.]", text, re.MULTILINE)]
    assert top == list(range(1, len(top) + 1)), f"разделы верхнего уровня не идут подряд с §1: {top}"
    every = _HEADING.findall(text)
    assert len(every) == len(set(every)), f"номера разделов повторяются: {every}"


def test_docs_index_lists_every_document() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    linked = {(ROOT / "docs" / m.group(1).split("#", 1)[0]).resolve() for m in _LINK.finditer(index)}
    missing = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "README.md" and p not in linked]
    assert not missing, f"docs/README.md не ссылается на: {', '.join(missing)}"


# --- сама проверка: ловит то, ради чего написана ------------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    for name, body in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body, encoding="utf-8")
    return list(text_files(tmp_path))


def test_checker_finds_missing_documents_and_sections(tmp_path: Path) -> None:
    files = _tree(tmp_path, {
        "docs/architecture.md": "# A\n\n## §1 Флот\n\n### §1.2 Порты\n\nСм. §1.2 и §7.\n"
                                "Дашборды — svc/README.md; порты — §1.2.\n",
        "svc/README.md": "# S\n",
        "svc/mod.py": '"""Режимы (ARCHITECTURE.md §4); запись — docs/architecture.md §1, §1.2, §3."""\n'
                      "# RFC 6749 §5.2 и issue 14 §2.9 — чужая нумерация; вне репозитория: ../shared/x.md\n",
        "svc/ui.ts": "/** роли (ARCHITECTURE §2) */\n",
        "docs/other.md": "# O\n\n## 1. Настройки\n\n## 2. Запись\n\nСм. §2, но не §3.\n",
        "svc/other.py": "# docs/other.md §1, §2 и §4\n",
    })
    found = {(p.path.as_posix(), p.text.split(":")[0]) for p in check_citations(tmp_path, files)}
    assert found == {
        ("docs/architecture.md", "§7"),
        ("docs/other.md", "§3"),
        ("svc/other.py", "docs/other.md §4"),
        ("svc/mod.py", "документа ARCHITECTURE.md нет в репозитории"),
        ("svc/mod.py", "docs/architecture.md §3"),
        ("svc/mod.py", "документа ../shared/x.md нет в репозитории"),
        ("svc/ui.ts", "ссылка на ARCHITECTURE — такого документа в репозитории нет "
                      "(архитектура — docs/architecture.md)"),
    }


def test_checker_finds_broken_links(tmp_path: Path) -> None:
    files = _tree(tmp_path, {
        "docs/README.md": "[есть](architecture.md) [нет](missing.md#x) [сайт](https://example.org/a.md) [якорь](#a)\n"
                          "[вверх](../svc/README.md) [наружу](../../outside.md)\n",
        "docs/architecture.md": "# A\n",
        "svc/README.md": "# S\n",
    })
    broken = sorted(p.text for p in check_links(tmp_path, files))
    assert broken == ["ссылка (../../outside.md) ведёт на несуществующий файл",
                      "ссылка (missing.md#x) ведёт на несуществующий файл"]
