import { HttpErrorResponse } from '@angular/common/http';
import { TestBed } from '@angular/core/testing';
import { MatDialog } from '@angular/material/dialog';
import { of, throwError } from 'rxjs';
import { Notifier } from '../../core/api/notifier';
import { JsonDialog } from '../../shared/json-dialog';
import { StorageElementList, reportSummary } from './storage-element-list';
import { StorageElement, StorageElementsApi } from './storage-elements-api';

const ELEMENTS: StorageElement[] = [
  { id: 'se-1', name: 'se-edit', api_url: 'http://se1:8010', mode: 'edit', status: 'online', capacity_bytes: 1000, used_bytes: 100, file_count: 3, priority: 10 },
  { id: 'se-2', name: 'se-rw', api_url: 'http://se2:8011', mode: 'rw', status: 'offline', capacity_bytes: 1000, used_bytes: 950, file_count: 9, priority: 20 },
];

// Как ElementOut admin-module для реплицированного элемента: член c не в сети — у него нет ни отставания, ни счёта.
const REPLICATED: StorageElement = {
  id: 'se-r1', name: 'Реплицированный архив', api_url: 'http://127.0.0.1:8012', mode: 'rw', status: 'degraded',
  capacity_bytes: 1000, used_bytes: 10, file_count: 42, priority: 50, last_error: 'член se-r1-c: не отвечает',
  replication: {
    mode: 'sync', quorum: 2, interval_s: 30, under_replicated: 4,
    members: [
      { id: 'se-r1-a', api_url: 'http://127.0.0.1:8012', status: 'online', lag_seconds: 0, under_replicated: 4 },
      { id: 'se-r1-b', api_url: 'http://127.0.0.1:8013', status: 'online', lag_seconds: 754, under_replicated: 0 },
      { id: 'se-r1-c', api_url: 'http://127.0.0.1:8014', status: 'offline', lag_seconds: null, under_replicated: null,
        last_error: 'элемент http://127.0.0.1:8014 не отвечает' },
    ],
  },
};

describe('StorageElementList', () => {
  let api: Record<string, ReturnType<typeof vi.fn>>;
  let dialog: { open: ReturnType<typeof vi.fn> };
  let notifier: { success: ReturnType<typeof vi.fn>; error: ReturnType<typeof vi.fn> };

  beforeEach(() => {
    api = {
      list: vi.fn(() => of(ELEMENTS)),
      changeMode: vi.fn(() => of({})),
      scrub: vi.fn(() => of({ checked: 9, corrupted: [] })),
      sync: vi.fn(() => of(ELEMENTS[0])),
    };
    dialog = { open: vi.fn(() => ({ afterClosed: () => of(true) })) };
    notifier = { success: vi.fn(), error: vi.fn() };
    TestBed.configureTestingModule({
      providers: [
        { provide: StorageElementsApi, useValue: api },
        { provide: MatDialog, useValue: dialog },
        { provide: Notifier, useValue: notifier },
      ],
    });
  });

  it('показывает элементы с режимом, статусом и заполнением', async () => {
    const fixture = TestBed.createComponent(StorageElementList);
    await fixture.whenStable();
    const rows = (fixture.nativeElement as HTMLElement).querySelectorAll('tr.mat-mdc-row');
    expect(rows.length).toBe(2);
    expect(rows[1].textContent).toContain('se-rw');
    expect(rows[1].textContent).toContain('rw');
    expect(rows[1].querySelector('.chip.bad')?.textContent).toContain('offline');
    expect(rows[1].textContent).toContain('95%');
  });

  it('у реплицированного элемента видны члены: здоровье, отставание и файлы без полного числа копий', async () => {
    api['list'].mockReturnValue(of([ELEMENTS[0], REPLICATED]));
    const fixture = TestBed.createComponent(StorageElementList);
    await fixture.whenStable();
    const rows = (fixture.nativeElement as HTMLElement).querySelectorAll('tr.mat-mdc-row');
    // у автономного элемента членов нет — только его адрес
    expect(rows[0].querySelector('[data-testid=element-members]')).toBeNull();
    expect(rows[0].textContent).toContain('http://se1:8010');

    const row = rows[1];
    const members = row.querySelectorAll('[data-testid=element-members] .member');
    expect(members.length).toBe(3);
    expect(members[0].querySelector('.chip.ok')?.textContent).toContain('online');
    expect(members[0].textContent).toContain('se-r1-a');
    expect(members[0].textContent).toContain('отставание 0 с');
    expect(members[0].textContent).toContain('без копии у соседа: 4');
    expect(members[1].textContent).toContain('отставание 12 мин');
    expect(members[1].textContent).not.toContain('без копии');
    expect(members[2].querySelector('.chip.bad')?.textContent).toContain('offline');
    expect(members[2].textContent).toContain('отставание —');
    expect(members[2].textContent).toContain('не отвечает');
    expect(row.querySelector('[data-testid=replication-mode]')?.textContent).toContain('sync · кворум 2 из 3');
    expect(row.querySelector('[data-testid=under-replicated]')?.textContent).toContain('без полного числа копий: 4');
    expect(row.querySelector('.chip.warn')?.textContent).toContain('degraded');
  });

  it('scrub реплицированного элемента — итог по каждому члену', async () => {
    api['scrub'].mockReturnValue(of({ id: 'se-r1', complete: false, members: [
      { id: 'se-r1-a', ok: true, result: { checked: 9, corrupted: [] } },
      { id: 'se-r1-b', ok: true, result: { checked: 9, corrupted: ['f1'] } },
      { id: 'se-r1-c', ok: false, error: { status: 503, detail: 'не отвечает' } },
    ] }));
    const fixture = TestBed.createComponent(StorageElementList);
    await fixture.whenStable();
    (fixture.componentInstance as unknown as { scrub(el: StorageElement): void }).scrub(REPLICATED);
    expect(dialog.open.mock.calls[0][1].data.summary).toBe(
      'se-r1-a: Проблем не найдено; se-r1-b: Найдено проблем: 1; se-r1-c: ошибка — не отвечает');
  });

  it('пустой реестр — подсказка, а не пустая таблица', async () => {
    api['list'].mockReturnValue(of([]));
    const fixture = TestBed.createComponent(StorageElementList);
    await fixture.whenStable();
    expect((fixture.nativeElement as HTMLElement).querySelector('[data-testid=empty-state]')?.textContent).toContain(
      'не зарегистрированы',
    );
  });

  it('ошибка загрузки показывается текстом detail', async () => {
    api['list'].mockReturnValue(throwError(() => new HttpErrorResponse({ status: 503, error: { detail: 'БД недоступна' } })));
    const fixture = TestBed.createComponent(StorageElementList);
    await fixture.whenStable();
    expect((fixture.nativeElement as HTMLElement).querySelector('.inline-error')?.textContent).toContain('БД недоступна');
  });

  it('смена режима rw→ro только после подтверждения', async () => {
    const fixture = TestBed.createComponent(StorageElementList);
    await fixture.whenStable();
    const cmp = fixture.componentInstance as unknown as { changeMode(el: StorageElement): void };
    cmp.changeMode(ELEMENTS[1]);
    expect(dialog.open.mock.calls[0][1].data.title).toContain('ro');
    expect(api['changeMode']).toHaveBeenCalledWith('se-2', 'ro');

    api['changeMode'].mockClear();
    cmp.changeMode(ELEMENTS[0]);
    expect(api['changeMode']).not.toHaveBeenCalled();
  });

  it('отказ в подтверждении не меняет режим', async () => {
    dialog.open.mockReturnValue({ afterClosed: () => of(false) });
    const fixture = TestBed.createComponent(StorageElementList);
    await fixture.whenStable();
    (fixture.componentInstance as unknown as { changeMode(el: StorageElement): void }).changeMode(ELEMENTS[1]);
    expect(api['changeMode']).not.toHaveBeenCalled();
  });

  it('scrub показывает отчёт в диалоге', async () => {
    const fixture = TestBed.createComponent(StorageElementList);
    await fixture.whenStable();
    (fixture.componentInstance as unknown as { scrub(el: StorageElement): void }).scrub(ELEMENTS[0]);
    expect(dialog.open).toHaveBeenCalledWith(JsonDialog, expect.objectContaining({
      data: expect.objectContaining({ value: { checked: 9, corrupted: [] }, summary: 'Проблем не найдено' }),
    }));
  });
});

describe('reportSummary', () => {
  it('понимает consistent и списки проблем', () => {
    expect(reportSummary({ consistent: false })).toContain('расхождения');
    expect(reportSummary({ mismatches: 2 })).toBe('Найдено проблем: 2');
    expect(reportSummary({ whatever: 1 })).toBeUndefined();
    expect(reportSummary(null)).toBeUndefined();
  });
});
