import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, OnInit, inject, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatIconModule } from '@angular/material/icon';
import { MatMenuModule } from '@angular/material/menu';
import { MatPaginatorModule, PageEvent } from '@angular/material/paginator';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatTableModule } from '@angular/material/table';
import { MatTooltipModule } from '@angular/material/tooltip';
import { RouterLink } from '@angular/router';
import { filter, finalize, switchMap } from 'rxjs';
import { Notifier } from '../../core/api/notifier';
import { problemMessage } from '../../core/api/problem';
import { normalizeRole } from '../../core/api/roles';
import { confirmAction } from '../../shared/confirm-dialog';
import { EmptyState } from '../../shared/empty-state';
import { SecretDialog } from '../../shared/secret-dialog';
import { ServiceAccountForm } from './service-account-form';
import { CreatedAccount, ServiceAccount, ServiceAccountsApi } from './service-accounts-api';

const SECRET_WARN_DAYS = 14;

@Component({
  selector: 'app-service-account-list',
  imports: [
    DatePipe, RouterLink, MatTableModule, MatPaginatorModule, MatButtonModule, MatIconModule, MatMenuModule,
    MatProgressBarModule, MatTooltipModule, EmptyState,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './service-account-list.html',
  styles: `
    .name { font-weight: 500; }
    .small { font-size: 12px; }
    .actions { text-align: right; white-space: nowrap; }
  `,
})
export class ServiceAccountList implements OnInit {
  private readonly api = inject(ServiceAccountsApi);
  private readonly dialog = inject(MatDialog);
  private readonly notifier = inject(Notifier);

  protected readonly columns = ['name', 'client_id', 'role', 'status', 'rate_limit', 'secret_expires_at', 'last_used_at', 'actions'];
  protected readonly accounts = signal<ServiceAccount[]>([]);
  protected readonly total = signal(0);
  protected readonly pageIndex = signal(0);
  protected readonly pageSize = signal(25);
  protected readonly loading = signal(false);
  protected readonly error = signal('');
  protected readonly normalizeRole = normalizeRole;

  ngOnInit(): void {
    this.load();
  }

  protected load(): void {
    this.loading.set(true);
    this.error.set('');
    this.api
      .list(this.pageSize(), this.pageIndex() * this.pageSize())
      .pipe(finalize(() => this.loading.set(false)))
      .subscribe({
        next: (page) => {
          this.accounts.set(page.items);
          this.total.set(page.total);
        },
        error: (err) => this.error.set(problemMessage(err)),
      });
  }

  protected onPage(event: PageEvent): void {
    this.pageIndex.set(event.pageIndex);
    this.pageSize.set(event.pageSize);
    this.load();
  }

  protected create(): void {
    this.dialog
      .open(ServiceAccountForm, { width: '520px' })
      .afterClosed()
      .pipe(filter(Boolean))
      .subscribe((created: CreatedAccount) => {
        this.showSecret(`Аккаунт «${created.name}» создан`, created.client_id, created.client_secret, created.secret_expires_at);
        this.load();
      });
  }

  protected edit(account: ServiceAccount): void {
    this.dialog
      .open(ServiceAccountForm, { width: '520px', data: { account } })
      .afterClosed()
      .pipe(filter(Boolean))
      .subscribe(() => {
        this.notifier.success(`Аккаунт «${account.name}» сохранён`);
        this.load();
      });
  }

  protected rotate(account: ServiceAccount): void {
    confirmAction(this.dialog, {
      title: `Сменить секрет «${account.name}»?`,
      message: 'Старый секрет перестанет работать сразу. Клиенты этого аккаунта должны получить новый.',
      confirmText: 'Сменить секрет',
      danger: true,
    })
      .pipe(
        filter(Boolean),
        switchMap(() => this.api.rotateSecret(account.id)),
      )
      .subscribe({
        next: (res) => {
          this.showSecret(`Новый секрет «${account.name}»`, res.client_id, res.client_secret, res.secret_expires_at);
          this.load();
        },
        error: (err) => this.notifier.error(err, 'Смена секрета'),
      });
  }

  protected remove(account: ServiceAccount): void {
    confirmAction(this.dialog, {
      title: `Удалить аккаунт «${account.name}»?`,
      message: 'Его токены перестанут приниматься, вебхуки — отправляться.',
      confirmText: 'Удалить',
      danger: true,
    })
      .pipe(
        filter(Boolean),
        switchMap(() => this.api.remove(account.id)),
      )
      .subscribe({
        next: () => {
          this.notifier.success(`Аккаунт «${account.name}» удалён`);
          this.load();
        },
        error: (err) => this.notifier.error(err, 'Удаление'),
      });
  }

  protected secretExpiresSoon(account: ServiceAccount): boolean {
    // Порог предупреждения знает сервер (secret_expiring_soon); свой — только если поля нет.
    if (typeof account.secret_expiring_soon === 'boolean') {
      return account.secret_expiring_soon;
    }
    if (!account.secret_expires_at) {
      return false;
    }
    return new Date(account.secret_expires_at).getTime() - Date.now() < SECRET_WARN_DAYS * 86_400_000;
  }

  protected statusClass(status: string): string {
    return status === 'active' ? 'ok' : status === 'suspended' ? 'warn' : 'bad';
  }

  private showSecret(title: string, clientId: string, secret: string, expiresAt?: string | null): void {
    const fields = [
      { label: 'client_id', value: clientId },
      { label: 'client_secret', value: secret, secret: true },
    ];
    if (expiresAt) {
      fields.push({ label: 'Действует до', value: new Date(expiresAt).toLocaleString('ru-RU') });
    }
    this.dialog.open(SecretDialog, { data: { title, fields }, disableClose: true, width: '640px' });
  }
}
