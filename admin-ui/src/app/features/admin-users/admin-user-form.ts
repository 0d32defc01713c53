import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatSelectModule } from '@angular/material/select';
import { MatSlideToggleModule } from '@angular/material/slide-toggle';
import { Observable, finalize } from 'rxjs';
import { problemMessage } from '../../core/api/problem';
import { ROLES, ROLE_LABELS, normalizeRole } from '../../core/api/roles';
import { AdminUser, AdminUserPatch, AdminUsersApi, isLocked } from './admin-users-api';

const MIN_PASSWORD = 12;

/** Создание администратора или правка: роль, активность, при необходимости — новый пароль. */
@Component({
  selector: 'app-admin-user-form',
  imports: [
    DatePipe, ReactiveFormsModule, MatDialogModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatSelectModule,
    MatSlideToggleModule,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ user ? 'Пользователь ' + user.username : 'Новый администратор' }}</h2>
    <form [formGroup]="form" (ngSubmit)="submit()">
      <mat-dialog-content class="dialog-form">
        @if (!user) {
          <mat-form-field>
            <mat-label>Имя пользователя</mat-label>
            <input matInput formControlName="username" autocomplete="off" />
          </mat-form-field>
        }
        <mat-form-field>
          <mat-label>Роль</mat-label>
          <mat-select formControlName="role">
            @for (r of roles; track r) { <mat-option [value]="r">{{ roleLabels[r] }}</mat-option> }
          </mat-select>
        </mat-form-field>
        <mat-form-field>
          <mat-label>{{ user ? 'Новый пароль (если нужно сбросить)' : 'Пароль' }}</mat-label>
          <input matInput type="password" formControlName="password" autocomplete="new-password" />
          <mat-hint>Не короче {{ minPassword }} символов</mat-hint>
        </mat-form-field>
        @if (user) {
          <mat-slide-toggle formControlName="isActive">Учётная запись активна</mat-slide-toggle>
          @if (user.totp_enabled) {
            <mat-slide-toggle formControlName="resetTotp">Сбросить TOTP (пользователь подключит его заново)</mat-slide-toggle>
          }
          @if (locked) {
            <mat-slide-toggle formControlName="unlock">Снять блокировку входа (до {{ user.locked_until | date: 'dd.MM.yyyy HH:mm' }})</mat-slide-toggle>
          }
        }
        @if (error()) { <div class="inline-error" role="alert">{{ error() }}</div> }
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-button type="button" mat-dialog-close>Отмена</button>
        <button mat-flat-button type="submit" [disabled]="busy()">{{ user ? 'Сохранить' : 'Создать' }}</button>
      </mat-dialog-actions>
    </form>
  `,
})
export class AdminUserForm {
  private readonly api = inject(AdminUsersApi);
  private readonly ref = inject(MatDialogRef<AdminUserForm>);
  protected readonly user = inject<{ user?: AdminUser } | null>(MAT_DIALOG_DATA, { optional: true })?.user;

  protected readonly roles = ROLES;
  protected readonly roleLabels = ROLE_LABELS;
  protected readonly minPassword = MIN_PASSWORD;
  protected readonly form = inject(NonNullableFormBuilder).group({
    username: [this.user?.username ?? '', this.user ? [] : [Validators.required, Validators.pattern(/^[\w.@-]{3,64}$/)]],
    role: [normalizeRole(this.user?.role) || 'READONLY', Validators.required],
    // Пароль обязателен только при создании; при правке пустое поле значит «не менять».
    password: ['', this.user ? [Validators.minLength(MIN_PASSWORD)] : [Validators.required, Validators.minLength(MIN_PASSWORD)]],
    isActive: [this.user?.is_active ?? true],
    resetTotp: [false],
    unlock: [false],
  });
  protected readonly locked = !!this.user && isLocked(this.user);
  protected readonly busy = signal(false);
  protected readonly error = signal('');

  protected submit(): void {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      this.error.set(`Проверьте поля: имя — 3–64 символа (буквы, цифры, . _ - @), пароль — от ${MIN_PASSWORD} символов`);
      return;
    }
    const v = this.form.getRawValue();
    let request: Observable<unknown>;
    if (this.user) {
      const patch: AdminUserPatch = { role: v.role, is_active: v.isActive };
      if (v.password) {
        patch.password = v.password;
      }
      if (v.resetTotp) {
        patch.totp_enabled = false;
      }
      if (v.unlock) {
        patch.unlock = true;
      }
      request = this.api.update(this.user.id, patch);
    } else {
      request = this.api.create({ username: v.username.trim(), password: v.password, role: v.role });
    }
    this.busy.set(true);
    this.error.set('');
    request.pipe(finalize(() => this.busy.set(false))).subscribe({
      next: (res) => this.ref.close(res ?? true),
      error: (err) => this.error.set(problemMessage(err)),
    });
  }
}
