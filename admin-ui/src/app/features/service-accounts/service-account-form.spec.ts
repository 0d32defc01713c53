import { TestBed } from '@angular/core/testing';
import { MAT_DIALOG_DATA, MatDialogRef } from '@angular/material/dialog';
import { of } from 'rxjs';
import { ServiceAccountForm } from './service-account-form';
import { ServiceAccount, ServiceAccountsApi } from './service-accounts-api';

describe('ServiceAccountForm', () => {
  const api = { create: vi.fn(() => of({ id: 'n', client_secret: 's' })), update: vi.fn(() => of({ id: 'a' })) };
  const ref = { close: vi.fn() };

  function setup(account?: ServiceAccount) {
    TestBed.configureTestingModule({
      providers: [
        { provide: ServiceAccountsApi, useValue: api },
        { provide: MatDialogRef, useValue: ref },
        { provide: MAT_DIALOG_DATA, useValue: account ? { account } : null },
      ],
    });
    return TestBed.createComponent(ServiceAccountForm);
  }

  beforeEach(() => {
    api.create.mockClear();
    api.update.mockClear();
    ref.close.mockClear();
  });

  it('создаёт аккаунт и возвращает ответ с секретом', async () => {
    const fixture = setup();
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    const name = el.querySelector<HTMLInputElement>('[data-testid=sa-name]')!;
    name.value = 'etl';
    name.dispatchEvent(new Event('input'));
    el.querySelector('form')!.dispatchEvent(new Event('submit'));
    expect(api.create).toHaveBeenCalledWith({ name: 'etl', description: undefined, role: 'USER', rate_limit: 100 });
    expect(ref.close).toHaveBeenCalledWith({ id: 'n', client_secret: 's' });
  });

  it('без имени не отправляет', async () => {
    const fixture = setup();
    await fixture.whenStable();
    (fixture.nativeElement as HTMLElement).querySelector('form')!.dispatchEvent(new Event('submit'));
    expect(api.create).not.toHaveBeenCalled();
  });

  it('у системного аккаунта не меняет роль и статус', async () => {
    const fixture = setup({ id: 'sys', name: 'admin-service', client_id: 'c', role: 'admin', status: 'active', is_system: true, rate_limit: 500 });
    await fixture.whenStable();
    (fixture.nativeElement as HTMLElement).querySelector('form')!.dispatchEvent(new Event('submit'));
    expect(api.update).toHaveBeenCalledWith('sys', { description: '', rate_limit: 500 });
  });
});
