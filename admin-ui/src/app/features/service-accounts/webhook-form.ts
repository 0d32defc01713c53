import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatSelectModule } from '@angular/material/select';
import { MatSlideToggleModule } from '@angular/material/slide-toggle';
import { finalize } from 'rxjs';
import { problemMessage } from '../../core/api/problem';
import { ServiceAccountsApi, WEBHOOK_EVENTS, WEBHOOK_EVENT_LABELS, Webhook } from './service-accounts-api';

export interface WebhookFormData {
  accountId: string;
  webhook?: Webhook;
}

@Component({
  selector: 'app-webhook-form',
  imports: [
    ReactiveFormsModule, MatDialogModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatSelectModule,
    MatSlideToggleModule,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ data.webhook ? 'Вебхук' : 'Новый вебхук' }}</h2>
    <form [formGroup]="form" (ngSubmit)="submit()">
      <mat-dialog-content class="dialog-form">
        <mat-form-field>
          <mat-label>URL получателя</mat-label>
          <input matInput formControlName="url" placeholder="https://example.org/hooks/artstore" data-testid="wh-url" />
          @if (form.controls.url.touched && form.controls.url.invalid) { <mat-error>Нужен адрес http(s)://…</mat-error> }
        </mat-form-field>
        <mat-form-field>
          <mat-label>События</mat-label>
          <mat-select formControlName="events" multiple data-testid="wh-events">
            @for (e of events; track e) { <mat-option [value]="e">{{ e }} — {{ labels[e] }}</mat-option> }
          </mat-select>
          @if (form.controls.events.touched && form.controls.events.invalid) { <mat-error>Выберите хотя бы одно событие</mat-error> }
        </mat-form-field>
        <mat-slide-toggle formControlName="isActive">Активен</mat-slide-toggle>
        @if (error()) { <div class="inline-error" role="alert">{{ error() }}</div> }
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-button type="button" mat-dialog-close>Отмена</button>
        <button mat-flat-button type="submit" [disabled]="busy()" data-testid="wh-save">Сохранить</button>
      </mat-dialog-actions>
    </form>
  `,
})
export class WebhookForm {
  private readonly api = inject(ServiceAccountsApi);
  private readonly ref = inject(MatDialogRef<WebhookForm>);
  protected readonly data = inject<WebhookFormData>(MAT_DIALOG_DATA);

  // Только то, что принимает admin-module: иное событие сервер отклонит с 422 и сохранение не пройдёт.
  protected readonly events: readonly string[] = WEBHOOK_EVENTS;
  protected readonly labels = WEBHOOK_EVENT_LABELS;
  protected readonly form = inject(NonNullableFormBuilder).group({
    url: [this.data.webhook?.url ?? '', [Validators.required, Validators.pattern(/^\s*https?:\/\/\S+\s*$/)]],
    events: [(this.data.webhook?.events ?? []).filter((e) => this.events.includes(e)), Validators.required],
    isActive: [this.data.webhook?.is_active ?? true],
  });
  protected readonly busy = signal(false);
  protected readonly error = signal('');

  protected submit(): void {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    const v = this.form.getRawValue();
    const body = { url: v.url.trim(), events: v.events, is_active: v.isActive };
    const request = this.data.webhook
      ? this.api.updateWebhook(this.data.accountId, this.data.webhook.id, body)
      : this.api.createWebhook(this.data.accountId, body);
    this.busy.set(true);
    this.error.set('');
    request.pipe(finalize(() => this.busy.set(false))).subscribe({
      next: (saved) => this.ref.close(saved ?? true),
      error: (err) => this.error.set(problemMessage(err)),
    });
  }
}
