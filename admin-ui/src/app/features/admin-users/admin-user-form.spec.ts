import { TestBed } from '@angular/core/testing';
import { MAT_DIALOG_DATA, MatDialogRef } from '@angular/material/dialog';
import { of } from 'rxjs';
import { AdminUser, AdminUsersApi } from './admin-users-api';
import { AdminUserForm } from './admin-user-form';

describe('AdminUserForm', () => {
  const api = { create: vi.fn(() => of({ id: 9 })), update: vi.fn(() => of({ id: 2 })) };
  const ref = { close: vi.fn() };

  function setup(user?: AdminUser) {
    api.create.mockClear();
    api.update.mockClear();
    TestBed.configureTestingModule({
      providers: [
        { provide: AdminUsersApi, useValue: api },
        { provide: MatDialogRef, useValue: ref },
        { provide: MAT_DIALOG_DATA, useValue: user ? { user } : null },
      ],
    });
    const fixture = TestBed.createComponent(AdminUserForm);
    const form = (fixture.componentInstance as unknown as { form: { patchValue(v: unknown): void } }).form;
    const submit = () => (fixture.nativeElement as HTMLElement).querySelector('form')!.dispatchEvent(new Event('submit'));
    return { fixture, form, submit };
  }

  it('создание требует пароль не короче 12 символов', async () => {
    const { fixture, form, submit } = setup();
    await fixture.whenStable();
    form.patchValue({ username: 'petrov', password: 'short' });
    submit();
    expect(api.create).not.toHaveBeenCalled();
    form.patchValue({ password: 'long-enough-pass' });
    submit();
    expect(api.create).toHaveBeenCalledWith({ username: 'petrov', password: 'long-enough-pass', role: 'READONLY' });
  });

  it('правка без пароля не отправляет поле password', async () => {
    const { fixture, form, submit } = setup({ id: 'u2', username: 'ivanov', role: 'auditor', is_active: true, totp_enabled: false });
    await fixture.whenStable();
    form.patchValue({ isActive: false });
    submit();
    expect(api.update).toHaveBeenCalledWith('u2', { role: 'AUDITOR', is_active: false });
  });

  it('сброс TOTP и снятие блокировки уходят флагами totp_enabled=false и unlock=true', async () => {
    const locked = new Date(Date.now() + 600_000).toISOString();
    const { fixture, form, submit } = setup({
      id: 'u3', username: 'sidorov', role: 'ADMIN', is_active: true, totp_enabled: true, locked_until: locked,
    });
    await fixture.whenStable();
    const text = (fixture.nativeElement as HTMLElement).textContent ?? '';
    expect(text).toContain('Сбросить TOTP');
    expect(text).toContain('Снять блокировку');
    form.patchValue({ resetTotp: true, unlock: true });
    submit();
    expect(api.update).toHaveBeenCalledWith('u3', { role: 'ADMIN', is_active: true, totp_enabled: false, unlock: true });
  });
});
