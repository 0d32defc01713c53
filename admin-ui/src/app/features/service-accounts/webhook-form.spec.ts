import { TestBed } from '@angular/core/testing';
import { MAT_DIALOG_DATA, MatDialogRef } from '@angular/material/dialog';
import { of } from 'rxjs';
import { ServiceAccountsApi } from './service-accounts-api';
import { WebhookForm, WebhookFormData } from './webhook-form';

describe('WebhookForm', () => {
  const api = { createWebhook: vi.fn(() => of({ id: 'w1' })), updateWebhook: vi.fn(() => of({ id: 'w1' })) };
  const ref = { close: vi.fn() };

  function setup(data: WebhookFormData) {
    TestBed.configureTestingModule({
      providers: [
        { provide: ServiceAccountsApi, useValue: api },
        { provide: MatDialogRef, useValue: ref },
        { provide: MAT_DIALOG_DATA, useValue: data },
      ],
    });
    return TestBed.createComponent(WebhookForm);
  }

  it('создаёт вебхук с событиями', async () => {
    const fixture = setup({ accountId: 'a1' });
    await fixture.whenStable();
    const cmp = fixture.componentInstance as unknown as { form: { setValue(v: unknown): void } };
    cmp.form.setValue({ url: 'https://h.example/x ', events: ['file_expiring'], isActive: true });
    (fixture.nativeElement as HTMLElement).querySelector('form')!.dispatchEvent(new Event('submit'));
    expect(api.createWebhook).toHaveBeenCalledWith('a1', { url: 'https://h.example/x', events: ['file_expiring'], is_active: true });
    expect(ref.close).toHaveBeenCalledWith({ id: 'w1' });
  });

  it('предлагает ровно события admin-module; без событий не отправляет', async () => {
    const fixture = setup({ accountId: 'a1', webhook: { id: 'w1', url: 'https://h', events: ['file_deleted', 'custom_event'], is_active: false } });
    await fixture.whenStable();
    const cmp = fixture.componentInstance as unknown as {
      events: string[];
      form: { patchValue(v: unknown): void; getRawValue(): { events: string[] } };
    };
    // EventType из admin-module/webhooks/schemas.py: остальное сервер отклоняет с 422.
    expect([...cmp.events].sort()).toEqual([
      'file_deleted', 'file_expired', 'file_expiring', 'file_finalized', 'file_restored', 'file_transferred',
      'file_uploaded', 'restore_failed',
    ]);
    expect(cmp.form.getRawValue().events).toEqual(['file_deleted']);
    cmp.form.patchValue({ events: [] });
    (fixture.nativeElement as HTMLElement).querySelector('form')!.dispatchEvent(new Event('submit'));
    expect(api.updateWebhook).not.toHaveBeenCalled();
  });
});
