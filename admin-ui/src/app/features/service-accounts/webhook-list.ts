import { ChangeDetectionStrategy, Component, OnInit, inject, input, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatIconModule } from '@angular/material/icon';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSlideToggleModule } from '@angular/material/slide-toggle';
import { MatTableModule } from '@angular/material/table';
import { MatTooltipModule } from '@angular/material/tooltip';
import { RouterLink } from '@angular/router';
import { catchError, filter, finalize, of, switchMap } from 'rxjs';
import { Notifier } from '../../core/api/notifier';
import { problemMessage } from '../../core/api/problem';
import { confirmAction } from '../../shared/confirm-dialog';
import { EmptyState } from '../../shared/empty-state';
import { SecretDialog } from '../../shared/secret-dialog';
import { ServiceAccount, ServiceAccountsApi, Webhook } from './service-accounts-api';
import { WebhookDeliveries } from './webhook-deliveries';
import { WebhookForm } from './webhook-form';

/** Вебхуки одного сервисного аккаунта: куда и о каких событиях admin шлёт уведомления. */
@Component({
  selector: 'app-webhook-list',
  imports: [
    RouterLink, MatTableModule, MatButtonModule, MatIconModule, MatSlideToggleModule, MatProgressBarModule,
    MatTooltipModule, EmptyState,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <div class="page">
      <div class="page-header">
        <a mat-icon-button routerLink="/service-accounts" aria-label="К аккаунтам"><mat-icon>arrow_back</mat-icon></a>
        <h1>Вебхуки{{ account()?.name ? ' — ' + account()!.name : '' }}</h1>
        <button mat-flat-button (click)="create()" data-testid="wh-create"><mat-icon>add</mat-icon>Добавить</button>
      </div>
      @if (loading()) { <mat-progress-bar mode="indeterminate" class="loading-bar" /> }
      @if (error()) { <div class="inline-error" role="alert">{{ error() }}</div> }
      @if (webhooks().length) {
        <div class="table-wrap">
          <table mat-table [dataSource]="webhooks()" data-testid="wh-table">
            <ng-container matColumnDef="url">
              <th mat-header-cell *matHeaderCellDef>URL</th>
              <td mat-cell *matCellDef="let w" class="mono">{{ w.url }}</td>
            </ng-container>
            <ng-container matColumnDef="events">
              <th mat-header-cell *matHeaderCellDef>События</th>
              <td mat-cell *matCellDef="let w">@for (e of w.events; track e) { <span class="chip event">{{ e }}</span> }</td>
            </ng-container>
            <ng-container matColumnDef="active">
              <th mat-header-cell *matHeaderCellDef>Активен</th>
              <td mat-cell *matCellDef="let w">
                <mat-slide-toggle [checked]="w.is_active" (change)="toggle(w, $event.checked)" [aria-label]="'Активен: ' + w.url" />
              </td>
            </ng-container>
            <ng-container matColumnDef="actions">
              <th mat-header-cell *matHeaderCellDef></th>
              <td mat-cell *matCellDef="let w" class="actions">
                <button mat-icon-button (click)="deliveries(w)" matTooltip="Журнал доставок"><mat-icon>history</mat-icon></button>
                <button mat-icon-button (click)="edit(w)" matTooltip="Изменить"><mat-icon>edit</mat-icon></button>
                <button mat-icon-button (click)="remove(w)" matTooltip="Удалить"><mat-icon>delete</mat-icon></button>
              </td>
            </ng-container>
            <tr mat-header-row *matHeaderRowDef="columns"></tr>
            <tr mat-row *matRowDef="let row; columns: columns"></tr>
          </table>
        </div>
      } @else if (!loading() && !error()) {
        <app-empty-state icon="webhook" text="Вебхуков нет" hint="Вебхук сообщит приложению о загрузке, удалении или скором истечении срока хранения файлов.">
          <button mat-flat-button (click)="create()">Добавить вебхук</button>
        </app-empty-state>
      }
    </div>
  `,
  styles: `
    .event { margin: 2px 4px 2px 0; }
    .actions { text-align: right; white-space: nowrap; }
  `,
})
export class WebhookList implements OnInit {
  private readonly api = inject(ServiceAccountsApi);
  private readonly dialog = inject(MatDialog);
  private readonly notifier = inject(Notifier);

  /** Из пути /service-accounts/:accountId/webhooks. */
  readonly accountId = input.required<string>();

  protected readonly columns = ['url', 'events', 'active', 'actions'];
  protected readonly account = signal<ServiceAccount | null>(null);
  protected readonly webhooks = signal<Webhook[]>([]);
  protected readonly loading = signal(false);
  protected readonly error = signal('');

  ngOnInit(): void {
    // Имя аккаунта — только для заголовка; без него страница тоже работает.
    this.api.get(this.accountId()).pipe(catchError(() => of(null))).subscribe((a) => this.account.set(a));
    this.load();
  }

  protected load(): void {
    this.loading.set(true);
    this.error.set('');
    this.api
      .webhooks(this.accountId())
      .pipe(finalize(() => this.loading.set(false)))
      .subscribe({ next: (list) => this.webhooks.set(list), error: (err) => this.error.set(problemMessage(err)) });
  }

  protected create(): void {
    this.dialog
      .open(WebhookForm, { data: { accountId: this.accountId() }, width: '560px' })
      .afterClosed()
      .pipe(filter(Boolean))
      .subscribe((saved: Webhook | true) => {
        // Секрет подписи, если сервер его выдал, показывается один раз — как секрет аккаунта.
        if (saved !== true && saved.secret) {
          this.dialog.open(SecretDialog, {
            data: { title: 'Секрет подписи вебхука', fields: [{ label: 'secret', value: saved.secret, secret: true }] },
            disableClose: true,
          });
        } else {
          this.notifier.success('Вебхук добавлен');
        }
        this.load();
      });
  }

  protected edit(webhook: Webhook): void {
    this.dialog
      .open(WebhookForm, { data: { accountId: this.accountId(), webhook }, width: '560px' })
      .afterClosed()
      .pipe(filter(Boolean))
      .subscribe(() => {
        this.notifier.success('Вебхук сохранён');
        this.load();
      });
  }

  protected toggle(webhook: Webhook, active: boolean): void {
    this.api.updateWebhook(this.accountId(), webhook.id, { is_active: active }).subscribe({
      next: () => this.webhooks.update((list) => list.map((w) => (w.id === webhook.id ? { ...w, is_active: active } : w))),
      error: (err) => {
        this.notifier.error(err, 'Вебхук');
        this.load();
      },
    });
  }

  protected deliveries(webhook: Webhook): void {
    this.dialog.open(WebhookDeliveries, { data: { accountId: this.accountId(), webhook }, width: '900px' });
  }

  protected remove(webhook: Webhook): void {
    confirmAction(this.dialog, { title: 'Удалить вебхук?', message: webhook.url, confirmText: 'Удалить', danger: true })
      .pipe(
        filter(Boolean),
        switchMap(() => this.api.deleteWebhook(this.accountId(), webhook.id)),
      )
      .subscribe({
        next: () => {
          this.notifier.success('Вебхук удалён');
          this.load();
        },
        error: (err) => this.notifier.error(err, 'Удаление'),
      });
  }
}
