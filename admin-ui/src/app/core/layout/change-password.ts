import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { Notifier } from '../api/notifier';
import { problemMessage } from '../api/problem';
import { Session } from '../auth/session';

@Component({
  selector: 'app-change-password',
  imports: [ReactiveFormsModule, MatDialogModule, MatButtonModule, MatFormFieldModule, MatInputModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>Смена пароля</h2>
    <form [formGroup]="form" (ngSubmit)="submit()">
      <mat-dialog-content class="dialog-form">
        <mat-form-field>
          <mat-label>Текущий пароль</mat-label>
          <input matInput type="password" formControlName="current" autocomplete="current-password" />
        </mat-form-field>
        <mat-form-field>
          <mat-label>Новый пароль</mat-label>
          <input matInput type="password" formControlName="next" autocomplete="new-password" />
          <mat-hint>Не короче 12 символов</mat-hint>
        </mat-form-field>
        <mat-form-field>
          <mat-label>Повторите новый пароль</mat-label>
          <input matInput type="password" formControlName="repeat" autocomplete="new-password" />
        </mat-form-field>
        @if (error()) {
          <div class="inline-error">{{ error() }}</div>
        }
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-button type="button" mat-dialog-close>Отмена</button>
        <button mat-flat-button type="submit" [disabled]="busy()">Сменить</button>
      </mat-dialog-actions>
    </form>
  `,
})
export class ChangePassword {
  private readonly session = inject(Session);
  private readonly ref = inject(MatDialogRef<ChangePassword>);
  private readonly notifier = inject(Notifier);

  protected readonly form = inject(NonNullableFormBuilder).group({
    current: ['', Validators.required],
    next: ['', [Validators.required, Validators.minLength(12)]],
    repeat: ['', Validators.required],
  });
  protected readonly busy = signal(false);
  protected readonly error = signal('');

  protected submit(): void {
    const { current, next, repeat } = this.form.getRawValue();
    if (this.form.invalid) {
      this.error.set('Заполните все поля; новый пароль — не короче 12 символов');
      return;
    }
    if (next !== repeat) {
      this.error.set('Пароли не совпадают');
      return;
    }
    this.busy.set(true);
    this.session.changePassword(current, next).subscribe({
      next: () => {
        // Сервер отозвал все refresh-токены, а текущий токен мог быть «только для смены пароля»:
        // честнее сразу войти заново с новым паролем, чем ловить 403 и разлогин через минуту.
        this.notifier.success('Пароль изменён — войдите с новым паролем');
        this.ref.close(true);
        this.session.logout();
      },
      error: (err) => {
        this.busy.set(false);
        this.error.set(problemMessage(err));
      },
    });
  }
}
