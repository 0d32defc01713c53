import { HttpErrorResponse } from '@angular/common/http';
import { TestBed } from '@angular/core/testing';
import { MatDialog } from '@angular/material/dialog';
import { of, throwError } from 'rxjs';
import { Notifier } from '../../core/api/notifier';
import { StorageElementsApi } from '../storage-elements/storage-elements-api';
import { FileSearch } from './file-search';
import { FileRecord, FilesApi, SearchResponse } from './files-api';

const FILES: FileRecord[] = [
  { file_id: 'f-1', original_filename: 'отчёт.pdf', file_size: 2048, retention_policy: 'temporary', storage_element_id: 'se-01', tags: ['акт'] },
  { file_id: 'f-2', original_filename: 'договор.docx', file_size: 10, retention_policy: 'permanent', storage_element_id: 'se-09' },
];

function response(partial = false): SearchResponse {
  return { results: FILES, total_count: 60, limit: 25, offset: 0, has_more: true, partial, unavailable_storage_elements: partial ? ['se-03'] : [] };
}

describe('FileSearch', () => {
  let api: Record<string, ReturnType<typeof vi.fn>>;
  let dialog: { open: ReturnType<typeof vi.fn> };
  let notifier: { success: ReturnType<typeof vi.fn>; error: ReturnType<typeof vi.fn> };

  beforeEach(() => {
    api = {
      search: vi.fn(() => of(response())),
      suggest: vi.fn(() => of([{ text: 'отчёт.pdf', kind: 'filename' }])),
      downloadUrl: vi.fn(() => of('http://localhost:8030/api/v1/links/L1.9999999999.sig')),
      restore: vi.fn(() => of({})),
      remove: vi.fn(() => of({})),
    };
    dialog = { open: vi.fn(() => ({ afterClosed: () => of(true) })) };
    notifier = { success: vi.fn(), error: vi.fn() };
    TestBed.configureTestingModule({
      providers: [
        { provide: FilesApi, useValue: api },
        { provide: StorageElementsApi, useValue: { list: () => of([{ id: 'se-01', name: 'Оперативный', mode: 'edit', status: 'online', api_url: '' }]) } },
        { provide: MatDialog, useValue: dialog },
        { provide: Notifier, useValue: notifier },
      ],
    });
  });

  async function setup() {
    const fixture = TestBed.createComponent(FileSearch);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    const cmp = fixture.componentInstance as unknown as Record<string, (...args: unknown[]) => unknown>;
    return { fixture, el, cmp };
  }

  it('при открытии ищет и показывает результаты с именем элемента', async () => {
    const { el } = await setup();
    expect(api['search']).toHaveBeenCalledWith(expect.objectContaining({ mode: 'fulltext', limit: 25, offset: 0 }));
    const rows = el.querySelectorAll('tr.mat-mdc-row');
    expect(rows.length).toBe(2);
    expect(rows[0].textContent).toContain('отчёт.pdf');
    expect(rows[0].textContent).toContain('Оперативный');
    expect(rows[1].textContent).toContain('se-09');
  });

  it('русский запрос и теги уходят в запрос поиска', async () => {
    const { fixture, el } = await setup();
    const input = el.querySelector<HTMLInputElement>('[data-testid=search-query]')!;
    input.value = 'отчёты';
    input.dispatchEvent(new Event('input'));
    fixture.componentInstance['form'].controls.tags.setValue('акт, 2026');
    el.querySelector('form')!.dispatchEvent(new Event('submit'));
    expect(api['search']).toHaveBeenLastCalledWith(expect.objectContaining({ query: 'отчёты', tags: ['акт', '2026'], offset: 0 }));
  });

  it('подсказки запрашиваются после паузы в наборе', async () => {
    // Часы подменяем после первой отрисовки: whenStable с поддельными таймерами не дождётся стабильности.
    const { fixture } = await setup();
    vi.useFakeTimers();
    try {
      fixture.componentInstance['form'].controls.query.setValue('от');
      vi.advanceTimersByTime(300);
      expect(api['suggest']).toHaveBeenCalledWith('от');
      expect(fixture.componentInstance['suggestions']()).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('страница и сортировка переводятся в offset и sort_by', async () => {
    const { cmp } = await setup();
    cmp['onPage']({ pageIndex: 2, pageSize: 10, length: 60 });
    expect(api['search']).toHaveBeenLastCalledWith(expect.objectContaining({ limit: 10, offset: 20 }));
    cmp['onSort']({ active: 'file_size', direction: 'asc' });
    expect(api['search']).toHaveBeenLastCalledWith(expect.objectContaining({ sort_by: 'file_size', sort_order: 'asc', offset: 0 }));
    // Колонка «Имя» — это sort_by=name у query-module
    cmp['onSort']({ active: 'original_filename', direction: 'desc' });
    expect(api['search']).toHaveBeenLastCalledWith(expect.objectContaining({ sort_by: 'name', sort_order: 'desc' }));
  });

  it('неполная выдача отмечается баннером', async () => {
    api['search'].mockReturnValue(of(response(true)));
    const { el } = await setup();
    expect(el.querySelector('[data-testid=partial-banner]')?.textContent).toContain('se-03');
  });

  it('пустая выдача — пустое состояние; ошибка — текст detail', async () => {
    api['search'].mockReturnValue(of({ ...response(), results: [], total_count: 0 }));
    const first = await setup();
    expect(first.el.querySelector('[data-testid=empty-state]')).not.toBeNull();

    api['search'].mockReturnValue(throwError(() => new HttpErrorResponse({ status: 503, error: { detail: 'query-module перегружен' } })));
    first.cmp['search']();
    await first.fixture.whenStable();
    expect(first.el.querySelector('.inline-error')?.textContent).toContain('query-module перегружен');
  });

  it('скачивание — нативное, браузером по временной ссылке, без Blob в памяти', async () => {
    const opened: string[] = [];
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      opened.push(this.href);
    });
    const create = vi.fn();
    Object.assign(URL, { createObjectURL: create });
    const { el } = await setup();
    el.querySelector<HTMLButtonElement>('[data-testid=file-download]')!.click();
    expect(api['downloadUrl']).toHaveBeenCalledWith('f-1');
    expect(opened).toEqual(['http://localhost:8030/api/v1/links/L1.9999999999.sig']);
    expect(create).not.toHaveBeenCalled();
    click.mockRestore();
  });

  it('архивный файл: предлагает восстановление', async () => {
    api['downloadUrl'].mockReturnValue(
      throwError(() => new HttpErrorResponse({ status: 409, error: { detail: 'Файл на элементе ar', code: 'file_archived' } })),
    );
    const { cmp } = await setup();
    cmp['download'](FILES[0]);
    expect(dialog.open.mock.calls[0][1].data.message).toContain('Файл на элементе ar');
    expect(api['restore']).toHaveBeenCalledWith('f-1');
  });

  it('удаление только после подтверждения, затем повторный поиск', async () => {
    const { cmp } = await setup();
    const before = api['search'].mock.calls.length;
    cmp['remove'](FILES[0]);
    expect(api['remove']).toHaveBeenCalledWith('f-1');
    expect(api['search'].mock.calls.length).toBe(before + 1);
  });
});
