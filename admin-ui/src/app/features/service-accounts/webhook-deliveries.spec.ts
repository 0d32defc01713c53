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
          { id: 'd1', event: 'file_uploaded', status: 'delivered', response_status: 200, attempts: 1, created_at: '2026-01-01T10:00:00Z' },
          { id: 'd2', event: 'file_expiring', status: 'failed', response_status: 500, attempts: 5, error: 'timeout', created_at: '2026-01-01T10:05:00Z' },
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
    expect(rows[0].querySelector('.chip.ok')).not.toBeNull();
    expect(rows[1].textContent).toContain('timeout');
    expect(rows[1].querySelector('.chip.bad')).not.toBeNull();
  });
});
