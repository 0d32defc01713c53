import { JsonPipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule } from '@angular/material/dialog';

export interface JsonDialogData {
  title: string;
  summary?: string;
  value: unknown;
}

/** Отчёты элементов (scrub, consistency, rebuild) показываем как есть: их поля определяет элемент. */
@Component({
  selector: 'app-json-dialog',
  imports: [MatDialogModule, MatButtonModule, JsonPipe],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ data.title }}</h2>
    <mat-dialog-content>
      @if (data.summary) {
        <p class="summary">{{ data.summary }}</p>
      }
      <pre class="json" data-testid="json-report">{{ data.value | json }}</pre>
    </mat-dialog-content>
    <mat-dialog-actions align="end">
      <button mat-button mat-dialog-close>Закрыть</button>
    </mat-dialog-actions>
  `,
  styles: `
    .json { max-height: 60vh; overflow: auto; font-size: 12px; background: var(--mat-sys-surface-container); padding: 12px; border-radius: 8px; }
    .summary { font-weight: 500; }
  `,
})
export class JsonDialog {
  protected readonly data = inject<JsonDialogData>(MAT_DIALOG_DATA);
}
