import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, OnInit, inject, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule } from '@angular/material/dialog';
import { MatPaginatorIntl, MatPaginatorModule, PageEvent } from '@angular/material/paginator';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatTableModule } from '@angular/material/table';
import { finalize } from 'rxjs';
import { problemMessage } from '../../core/api/problem';
import { RussianPaginatorIntl } from '../../core/i18n/russian-paginator-intl';
import { EmptyState } from '../../shared/empty-state';
import { ServiceAccountsApi, Webhook, WebhookDelivery } from './service-accounts-api';

/** Журнал доставок: по нему видно, почему получатель не получает события (код ответа, ошибка, попытки). */
const STATUS_TEXT: Record<string, string> = { delivered: 'доставлено', pending: 'ждёт повтора', failed: 'не доставлено' };

@Component({
  selector: 'app-webhook-deliveries',
  imports: [DatePipe, MatDialogModule, MatButtonModule, MatTableModule, MatPaginatorModule, MatProgressBarModule, EmptyState],
  // Диалог создаётся корневым инжектором и не видит провайдеров каркаса — подключаем подписи сами.
  providers: [{ provide: MatPaginatorIntl, useClass: RussianPaginatorIntl }],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>Доставки — {{ data.webhook.url }}</h2>
    <mat-dialog-content>
      @if (loading()) { <mat-progress-bar mode="indeterminate" class="loading-bar" /> }
      @if (error()) { <div class="inline-error" role="alert">{{ error() }}</div> }
      @if (items().length) {
        <table mat-table [dataSource]="items()" class="deliveries">
          <ng-container matColumnDef="created_at">
            <th mat-header-cell *matHeaderCellDef>Время</th>
            <td mat-cell *matCellDef="let d">{{ (d.delivered_at ?? d.created_at) | date: 'dd.MM.yyyy HH:mm:ss' }}</td>
          </ng-container>
          <ng-container matColumnDef="event">
            <th mat-header-cell *matHeaderCellDef>Событие</th>
            <td mat-cell *matCellDef="let d">{{ d.event_type }}</td>
          </ng-container>
          <ng-container matColumnDef="status">
            <th mat-header-cell *matHeaderCellDef>Итог</th>
            <td mat-cell *matCellDef="let d"><span class="chip" [class]="statusClass(d)">{{ statusText(d) }}</span>
              @if (d.status === 'pending' && d.next_attempt_at) {
                <div class="muted small">следующая {{ d.next_attempt_at | date: 'HH:mm:ss' }}</div>
              }
            </td>
          </ng-container>
          <ng-container matColumnDef="last_status_code">
            <th mat-header-cell *matHeaderCellDef>HTTP</th>
            <td mat-cell *matCellDef="let d">{{ d.last_status_code ?? '—' }}</td>
          </ng-container>
          <ng-container matColumnDef="attempts">
            <th mat-header-cell *matHeaderCellDef>Попыток</th>
            <td mat-cell *matCellDef="let d">{{ d.attempts }}</td>
          </ng-container>
          <ng-container matColumnDef="error">
            <th mat-header-cell *matHeaderCellDef>Ошибка</th>
            <td mat-cell *matCellDef="let d" class="muted">{{ d.last_error ?? '' }}</td>
          </ng-container>
          <tr mat-header-row *matHeaderRowDef="columns"></tr>
          <tr mat-row *matRowDef="let row; columns: columns"></tr>
        </table>
        <mat-paginator [length]="total()" [pageIndex]="pageIndex()" [pageSize]="pageSize" (page)="onPage($event)" hidePageSize />
      } @else if (!loading() && !error()) {
        <app-empty-state icon="outbox" text="Доставок ещё не было" />
      }
    </mat-dialog-content>
    <mat-dialog-actions align="end"><button mat-button mat-dialog-close>Закрыть</button></mat-dialog-actions>
  `,
  styles: `.deliveries { min-width: 720px; font-size: 13px; }`,
})
export class WebhookDeliveries implements OnInit {
  private readonly api = inject(ServiceAccountsApi);
  protected readonly data = inject<{ accountId: string; webhook: Webhook }>(MAT_DIALOG_DATA);

  protected readonly columns = ['created_at', 'event', 'status', 'last_status_code', 'attempts', 'error'];
  protected readonly pageSize = 20;
  protected readonly items = signal<WebhookDelivery[]>([]);
  protected readonly total = signal(0);
  protected readonly pageIndex = signal(0);
  protected readonly loading = signal(false);
  protected readonly error = signal('');

  ngOnInit(): void {
    this.load();
  }

  protected onPage(event: PageEvent): void {
    this.pageIndex.set(event.pageIndex);
    this.load();
  }

  protected statusClass(d: WebhookDelivery): string {
    return d.status === 'delivered' ? 'ok' : d.status === 'pending' ? 'warn' : d.status ? 'bad' : '';
  }

  protected statusText(d: WebhookDelivery): string {
    return STATUS_TEXT[d.status] ?? d.status;
  }

  private load(): void {
    this.loading.set(true);
    this.api
      .deliveries(this.data.accountId, this.data.webhook.id, this.pageSize, this.pageIndex() * this.pageSize)
      .pipe(finalize(() => this.loading.set(false)))
      .subscribe({
        next: (page) => {
          this.items.set(page.items);
          this.total.set(page.total);
        },
        error: (err) => this.error.set(problemMessage(err)),
      });
  }
}
