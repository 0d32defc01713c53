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
