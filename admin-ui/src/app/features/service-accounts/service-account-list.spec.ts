import { TestBed } from '@angular/core/testing';
import { MatDialog } from '@angular/material/dialog';
import { provideRouter } from '@angular/router';
import { of } from 'rxjs';
import { Notifier } from '../../core/api/notifier';
import { SecretDialog } from '../../shared/secret-dialog';
import { ServiceAccountList } from './service-account-list';
import { ServiceAccount, ServiceAccountsApi } from './service-accounts-api';

const ACCOUNTS: ServiceAccount[] = [
  { id: 'sys', name: 'admin-service', client_id: 'sa_admin', role: 'admin', status: 'active', is_system: true, rate_limit: 1000, secret_expires_at: new Date(Date.now() + 3 * 86_400_000).toISOString() },
  { id: 'a2', name: 'etl', client_id: 'sa_etl', role: 'USER', status: 'suspended', rate_limit: 100 },
];

describe('ServiceAccountList', () => {
  let api: Record<string, ReturnType<typeof vi.fn>>;
  let dialog: { open: ReturnType<typeof vi.fn> };

  beforeEach(() => {
    api = {
      list: vi.fn(() => of({ items: ACCOUNTS, total: 2, limit: 25, offset: 0 })),
      rotateSecret: vi.fn(() => of({ client_id: 'sa_etl', client_secret: 'new-secret', secret_expires_at: null })),
      remove: vi.fn(() => of({})),
    };
    dialog = { open: vi.fn(() => ({ afterClosed: () => of(true) })) };
    TestBed.configureTestingModule({
      providers: [
        provideRouter([]),
        { provide: ServiceAccountsApi, useValue: api },
        { provide: MatDialog, useValue: dialog },
        { provide: Notifier, useValue: { success: vi.fn(), error: vi.fn() } },
      ],
    });
  });

  it('показывает аккаунты, роль, статус и скорое истечение секрета', async () => {
    const fixture = TestBed.createComponent(ServiceAccountList);
    await fixture.whenStable();
    const rows = (fixture.nativeElement as HTMLElement).querySelectorAll('tr.mat-mdc-row');
    expect(rows.length).toBe(2);
    expect(rows[0].textContent).toContain('системный');
    expect(rows[0].textContent).toContain('ADMIN');
    expect(rows[0].textContent).toContain('скоро');
    expect(rows[1].querySelector('.chip.warn')?.textContent).toContain('suspended');
  });

  it('смена секрета показывает новый секрет один раз', async () => {
    const fixture = TestBed.createComponent(ServiceAccountList);
    await fixture.whenStable();
    (fixture.componentInstance as unknown as { rotate(a: ServiceAccount): void }).rotate(ACCOUNTS[1]);
    expect(api['rotateSecret']).toHaveBeenCalledWith('a2');
    const [component, config] = dialog.open.mock.calls.at(-1)!;
    expect(component).toBe(SecretDialog);
    expect(config.disableClose).toBe(true);
    expect(config.data.fields).toContainEqual({ label: 'client_secret', value: 'new-secret', secret: true });
  });

  it('пустой список — пустое состояние', async () => {
    api['list'].mockReturnValue(of({ items: [], total: 0, limit: 25, offset: 0 }));
    const fixture = TestBed.createComponent(ServiceAccountList);
    await fixture.whenStable();
    expect((fixture.nativeElement as HTMLElement).querySelector('[data-testid=empty-state]')).not.toBeNull();
  });
});
