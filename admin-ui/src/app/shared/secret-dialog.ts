import { ClipboardModule } from '@angular/cdk/clipboard';
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule } from '@angular/material/dialog';
import { MatIconModule } from '@angular/material/icon';
import { MatTooltipModule } from '@angular/material/tooltip';

export interface SecretField {
  label: string;
  value: string;
  secret?: boolean;
}

export interface SecretDialogData {
  title: string;
  fields: SecretField[];
  note?: string;
}

/**
 * Секрет показывается ровно один раз: сервер хранит только хеш.
 * Закрыть окно можно только кнопкой, чтобы не потерять секрет случайным кликом мимо.
 */
@Component({
  selector: 'app-secret-dialog',
  imports: [MatDialogModule, MatButtonModule, MatIconModule, MatTooltipModule, ClipboardModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ data.title }}</h2>
    <mat-dialog-content>
      <p class="warning">
        <mat-icon>warning</mat-icon>
        {{ data.note ?? 'Секрет показывается только сейчас. Сохраните его — повторно увидеть его будет нельзя.' }}
      </p>
      @for (field of data.fields; track field.label) {
        <div class="field">
          <div class="label">{{ field.label }}</div>
          <code [class.secret]="field.secret" [attr.data-testid]="field.secret ? 'secret-value' : null">{{ field.value }}</code>
          <button mat-icon-button [cdkCopyToClipboard]="field.value" (cdkCopyToClipboardCopied)="copied.set(field.label)"
                  matTooltip="Скопировать" [attr.aria-label]="'Скопировать: ' + field.label">
            <mat-icon>{{ copied() === field.label ? 'check' : 'content_copy' }}</mat-icon>
          </button>
        </div>
      }
    </mat-dialog-content>
    <mat-dialog-actions align="end">
      <button mat-flat-button mat-dialog-close data-testid="secret-close">Я сохранил секрет</button>
    </mat-dialog-actions>
  `,
  styles: `
    .warning { display: flex; gap: 8px; align-items: center; color: var(--mat-sys-error); }
    .field { display: grid; grid-template-columns: 140px 1fr auto; align-items: center; gap: 8px; margin: 8px 0; }
    .label { color: var(--mat-sys-on-surface-variant); }
    code { word-break: break-all; padding: 4px 8px; background: var(--mat-sys-surface-container); border-radius: 4px; }
    code.secret { font-weight: 600; }
  `,
})
export class SecretDialog {
  protected readonly data = inject<SecretDialogData>(MAT_DIALOG_DATA);
  protected readonly copied = signal<string | null>(null);
}
