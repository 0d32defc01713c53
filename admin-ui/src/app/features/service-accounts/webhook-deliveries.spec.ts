import { TestBed } from '@angular/core/testing';
import { MAT_DIALOG_DATA } from '@angular/material/dialog';
import { of } from 'rxjs';
import { ServiceAccountsApi } from './service-accounts-api';
import { WebhookDeliveries } from './webhook-deliveries';

describe('WebhookDeliveries', () => {
  it('показывает доставки с кодом ответа и ошибкой', async () => {
    const deliveries = vi.fn(() =>
      of({
        items: [
          { id: 'd1', webhook_id: 'w1', event_id: 'e1', event_type: 'file_uploaded', status: 'delivered', attempts: 1, attempt_log: [],
            next_attempt_at: null, last_status_code: 200, last_error: null, created_at: '2026-01-01T10:00:00Z', delivered_at: '2026-01-01T10:00:01Z' },
          { id: 'd2', webhook_id: 'w1', event_id: 'e2', event_type: 'file_expiring', status: 'failed', attempts: 5, attempt_log: [],
            next_attempt_at: null, last_status_code: 500, last_error: 'timeout', created_at: '2026-01-01T10:05:00Z', delivered_at: null },
        ],
        total: 2,
        limit: 20,
        offset: 0,
      }),
    );
    TestBed.configureTestingModule({
      providers: [
        { provide: ServiceAccountsApi, useValue: { deliveries } },
        { provide: MAT_DIALOG_DATA, useValue: { accountId: 'a1', webhook: { id: 'w1', url: 'https://h', events: [], is_active: true } } },
      ],
    });
    const fixture = TestBed.createComponent(WebhookDeliveries);
    await fixture.whenStable();
    expect(deliveries).toHaveBeenCalledWith('a1', 'w1', 20, 0);
    const rows = (fixture.nativeElement as HTMLElement).querySelectorAll('tr.mat-mdc-row');
    expect(rows.length).toBe(2);
    expect(rows[0].querySelector('.chip.ok')?.textContent).toContain('доставлено');
    expect(rows[0].textContent).toContain('file_uploaded');
    expect(rows[0].textContent).toContain('200');
    expect(rows[1].textContent).toContain('timeout');
    expect(rows[1].textContent).toContain('500');
    expect(rows[1].querySelector('.chip.bad')).not.toBeNull();
  });
});
