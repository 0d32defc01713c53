import { signal } from '@angular/core';
import { TestBed } from '@angular/core/testing';
import { MatDialog } from '@angular/material/dialog';
import { of } from 'rxjs';
import { Notifier } from '../../core/api/notifier';
import { Session } from '../../core/auth/session';
import { AdminUserList } from './admin-user-list';
import { AdminUsersApi } from './admin-users-api';

describe('AdminUserList', () => {
  it('показывает пользователей и не даёт удалить себя', async () => {
    const remove = vi.fn(() => of({}));
    TestBed.configureTestingModule({
      providers: [
        {
          provide: AdminUsersApi,
          useValue: {
            list: () =>
              of({
                items: [
                  { id: 1, username: 'admin', role: 'ADMIN', is_active: true, totp_enabled: true },
                  { id: 2, username: 'auditor', role: 'auditor', is_active: false },
                ],
                total: 2,
                limit: 25,
                offset: 0,
              }),
            remove,
          },
        },
        { provide: Session, useValue: { user: signal({ id: 1, username: 'admin', role: 'ADMIN', totp_enabled: true }) } },
        { provide: MatDialog, useValue: { open: () => ({ afterClosed: () => of(true) }) } },
        { provide: Notifier, useValue: { success: vi.fn(), error: vi.fn() } },
      ],
    });
    const fixture = TestBed.createComponent(AdminUserList);
    await fixture.whenStable();
    const rows = (fixture.nativeElement as HTMLElement).querySelectorAll('tr.mat-mdc-row');
    expect(rows[0].textContent).toContain('это вы');
    expect(rows[0].textContent).toContain('включён');
    expect(rows[1].textContent).toContain('AUDITOR');
    expect(rows[1].textContent).toContain('отключён');
    const deleteButtons = (fixture.nativeElement as HTMLElement).querySelectorAll<HTMLButtonElement>('td.actions button:last-child');
    expect(deleteButtons[0].disabled).toBe(true);
    expect(deleteButtons[1].disabled).toBe(false);
  });
});
