import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialog, MatDialogModule } from '@angular/material/dialog';
import { Observable, map } from 'rxjs';

export interface ConfirmData {
  title: string;
  message: string;
  confirmText?: string;
  /** Необратимые действия подсвечиваются красным, чтобы их не нажимали по привычке. */
  danger?: boolean;
}

@Component({
  selector: 'app-confirm-dialog',
  imports: [MatDialogModule, MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ data.title }}</h2>
    <mat-dialog-content><p class="message">{{ data.message }}</p></mat-dialog-content>
    <mat-dialog-actions align="end">
      <button mat-button [mat-dialog-close]="false">Отмена</button>
      <button mat-flat-button [class.danger]="data.danger" [mat-dialog-close]="true" data-testid="confirm">
        {{ data.confirmText ?? 'Подтвердить' }}
      </button>
    </mat-dialog-actions>
  `,
  styles: `.message { white-space: pre-line; max-width: 480px; }`,
})
export class ConfirmDialog {
  protected readonly data = inject<ConfirmData>(MAT_DIALOG_DATA);
}

/** Открывает подтверждение и отдаёт true только при явном согласии. */
export function confirmAction(dialog: MatDialog, data: ConfirmData): Observable<boolean> {
  return dialog
    .open(ConfirmDialog, { data, autoFocus: 'dialog' })
    .afterClosed()
    .pipe(map((ok) => ok === true));
}
