import { TestBed } from '@angular/core/testing';
import { MatDialog } from '@angular/material/dialog';
import { provideRouter } from '@angular/router';
import { of } from 'rxjs';
import { Notifier } from '../../core/api/notifier';
import { ServiceAccountsApi, Webhook } from './service-accounts-api';
import { WebhookList } from './webhook-list';

describe('WebhookList', () => {
  const hooks: Webhook[] = [{ id: 'w1', url: 'https://h.example/in', events: ['file_uploaded', 'file_expiring'], is_active: true }];
  let api: Record<string, ReturnType<typeof vi.fn>>;

  beforeEach(() => {
    api = {
      get: vi.fn(() => of({ id: 'a1', name: 'etl' })),
      webhooks: vi.fn(() => of(hooks)),
      updateWebhook: vi.fn(() => of({})),
    };
    TestBed.configureTestingModule({
      providers: [
        provideRouter([]),
        { provide: ServiceAccountsApi, useValue: api },
        { provide: MatDialog, useValue: { open: vi.fn() } },
        { provide: Notifier, useValue: { success: vi.fn(), error: vi.fn() } },
      ],
    });
  });

  it('показывает вебхуки аккаунта и переключает активность', async () => {
    const fixture = TestBed.createComponent(WebhookList);
    fixture.componentRef.setInput('accountId', 'a1');
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    expect(el.querySelector('h1')?.textContent).toContain('etl');
    expect(el.querySelector('tr.mat-mdc-row')?.textContent).toContain('file_expiring');

    (fixture.componentInstance as unknown as { toggle(w: Webhook, a: boolean): void }).toggle(hooks[0], false);
    expect(api['updateWebhook']).toHaveBeenCalledWith('a1', 'w1', { is_active: false });
  });
});
