import { HttpErrorResponse } from '@angular/common/http';
import { TestBed } from '@angular/core/testing';
import { MatDialog } from '@angular/material/dialog';
import { of, throwError } from 'rxjs';
import { AuditApi, AuditEntry } from './audit-api';
import { AuditLog } from './audit-log';

/** Запись в форме AuditEntryOut admin-module. */
function entry(over: Partial<AuditEntry>): AuditEntry {
  return {
    id: 1, occurred_at: '2026-03-01T10:00:00Z', actor_type: 'user', actor_id: 'u1', actor_name: 'admin', ip: null,
    action: 'auth.login', target_type: null, target_id: null, outcome: 'success', details: {}, prev_hash: '0', hash: '1',
    ...over,
  };
}

describe('AuditLog', () => {
  let api: Record<string, ReturnType<typeof vi.fn>>;

  beforeEach(() => {
    api = {
      list: vi.fn(() =>
        of({
          items: [
            entry({ id: 7, actor_name: 'admin', action: 'service_account.rotate_secret', target_type: 'service_account', target_id: 'a1', ip: '10.0.0.5' }),
            entry({ id: 8, occurred_at: '2026-03-01T10:01:00Z', actor_type: 'service_account', actor_name: null, actor_id: 'sa-9', action: 'auth.token', outcome: 'failure' }),
          ],
          total: 120,
        }),
      ),
      verify: vi.fn(() => of({ valid: true, checked: 120, first_bad_id: null })),
    };
    TestBed.configureTestingModule({
      providers: [
        { provide: AuditApi, useValue: api },
        { provide: MatDialog, useValue: { open: vi.fn() } },
      ],
    });
  });

  it('показывает записи и зелёный чип целостности', async () => {
    const fixture = TestBed.createComponent(AuditLog);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    const rows = el.querySelectorAll('tr.mat-mdc-row');
    expect(rows.length).toBe(2);
    expect(rows[0].textContent).toContain('service_account.rotate_secret');
    expect(rows[0].textContent).toContain('admin');
    expect(rows[0].textContent).toContain('администратор');
    expect(rows[0].textContent).toContain('service_account');
    expect(rows[0].textContent).toContain('a1');
    expect(rows[0].textContent).toContain('10.0.0.5');
    expect(rows[0].textContent).toContain('01.03.2026');
    // без имени — id действующего лица
    expect(rows[1].textContent).toContain('sa-9');
    expect(rows[1].textContent).toContain('сервисный аккаунт');
    expect(rows[1].querySelector('.chip.bad')?.textContent).toContain('ошибка');
    const chip = el.querySelector('[data-testid=audit-verify]')!;
    expect(chip.classList).toContain('ok');
    expect(chip.textContent).toContain('120');
  });

  it('файловая операция — по-русски, с именем файла и тем, кто её сделал', async () => {
    api['list'].mockReturnValue(of({
      items: [entry({ id: 9, actor_type: 'service_account', actor_name: 'ingest-bot', action: 'file.delete', target_type: 'file',
                      target_id: 'f-77', details: { original_filename: 'акт сверки.pdf' }, event_id: 'e1' })],
      total: 1,
    }));
    const fixture = TestBed.createComponent(AuditLog);
    await fixture.whenStable();
    const row = (fixture.nativeElement as HTMLElement).querySelector('tr.mat-mdc-row')!;
    expect(row.textContent).toContain('удаление файла');
    expect(row.textContent).toContain('file.delete');
    expect(row.textContent).toContain('акт сверки.pdf');
    expect(row.textContent).toContain('f-77');
    expect(row.textContent).toContain('ingest-bot');
  });

  it('нарушенная цепочка — красный чип с номером записи', async () => {
    api['verify'].mockReturnValue(of({ valid: false, checked: 50, first_bad_id: 42 }));
    const fixture = TestBed.createComponent(AuditLog);
    await fixture.whenStable();
    const chip = (fixture.nativeElement as HTMLElement).querySelector('[data-testid=audit-verify]')!;
    expect(chip.classList).toContain('bad');
    expect(chip.textContent).toContain('#42');
  });

  it('фильтры уходят в запрос, страница сбрасывается', async () => {
    const fixture = TestBed.createComponent(AuditLog);
    await fixture.whenStable();
    const cmp = fixture.componentInstance as unknown as { form: { patchValue(v: unknown): void }; onPage(e: unknown): void };
    cmp.onPage({ pageIndex: 1, pageSize: 50, length: 120 });
    expect(api['list']).toHaveBeenLastCalledWith({ action: '', actor: '', file_id: '', outcome: '' }, 50, 50);
    cmp.form.patchValue({ actor: 'admin', outcome: 'success' });
    (fixture.nativeElement as HTMLElement).querySelector('form')!.dispatchEvent(new Event('submit'));
    expect(api['list']).toHaveBeenLastCalledWith({ action: '', actor: 'admin', file_id: '', outcome: 'success' }, 50, 0);
  });

  it('поле «Файл (id)» — фильтр по файлу: все операции с ним', async () => {
    const fixture = TestBed.createComponent(AuditLog);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    const input = el.querySelector<HTMLInputElement>('[data-testid=audit-file-id]')!;
    input.value = '3f2a-file';
    input.dispatchEvent(new Event('input'));
    el.querySelector('form')!.dispatchEvent(new Event('submit'));
    expect(api['list']).toHaveBeenLastCalledWith({ action: '', actor: '', file_id: '3f2a-file', outcome: '' }, 50, 0);
  });

  it('ошибка проверки не ломает страницу', async () => {
    api['verify'].mockReturnValue(throwError(() => new HttpErrorResponse({ status: 403, error: { detail: 'Нужна роль AUDITOR' } })));
    const fixture = TestBed.createComponent(AuditLog);
    await fixture.whenStable();
    expect((fixture.nativeElement as HTMLElement).querySelector('[data-testid=audit-verify]')?.textContent).toContain('Нужна роль AUDITOR');
  });
});
