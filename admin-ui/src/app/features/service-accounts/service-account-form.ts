import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatSelectModule } from '@angular/material/select';
import { Observable, finalize } from 'rxjs';
import { problemMessage } from '../../core/api/problem';
import { ROLES, ROLE_LABELS, normalizeRole } from '../../core/api/roles';
import { AccountStatus, ServiceAccount, ServiceAccountsApi } from './service-accounts-api';

/** Создание и правка сервисного аккаунта. Имя задаётся один раз: на нём держатся client_id и журналы. */
@Component({
  selector: 'app-service-account-form',
  imports: [ReactiveFormsModule, MatDialogModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatSelectModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ account ? 'Аккаунт «' + account.name + '»' : 'Новый сервисный аккаунт' }}</h2>
    <form [formGroup]="form" (ngSubmit)="submit()">
      <mat-dialog-content class="dialog-form">
        @if (!account) {
          <mat-form-field>
            <mat-label>Имя</mat-label>
            <input matInput formControlName="name" data-testid="sa-name" />
            <mat-hint>Например, «etl-бухгалтерия»</mat-hint>
          </mat-form-field>
        }
        <mat-form-field>
          <mat-label>Описание</mat-label>
          <input matInput formControlName="description" />
        </mat-form-field>
        <mat-form-field>
          <mat-label>Роль</mat-label>
          <mat-select formControlName="role">
            @for (r of roles; track r) { <mat-option [value]="r">{{ roleLabels[r] }}</mat-option> }
          </mat-select>
          @if (account?.is_system) { <mat-hint>Системный аккаунт нельзя понизить</mat-hint> }
        </mat-form-field>
        @if (account) {
          <mat-form-field>
            <mat-label>Статус</mat-label>
            <mat-select formControlName="status">
              <mat-option value="active">active — работает</mat-option>
              <mat-option value="suspended">suspended — приостановлен</mat-option>
            </mat-select>
          </mat-form-field>
        }
        <mat-form-field>
          <mat-label>Лимит запросов в минуту</mat-label>
          <input matInput type="number" formControlName="rateLimit" min="1" />
        </mat-form-field>
        @if (error()) { <div class="inline-error" role="alert">{{ error() }}</div> }
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-button type="button" mat-dialog-close>Отмена</button>
        <button mat-flat-button type="submit" [disabled]="busy()" data-testid="sa-save">{{ account ? 'Сохранить' : 'Создать' }}</button>
      </mat-dialog-actions>
    </form>
  `,
})
export class ServiceAccountForm {
  private readonly api = inject(ServiceAccountsApi);
  private readonly ref = inject(MatDialogRef<ServiceAccountForm>);
  protected readonly account = inject<{ account?: ServiceAccount } | null>(MAT_DIALOG_DATA, { optional: true })?.account;

  protected readonly roles = ROLES;
  protected readonly roleLabels = ROLE_LABELS;
  protected readonly form = inject(NonNullableFormBuilder).group({
    name: [this.account?.name ?? '', this.account ? [] : [Validators.required, Validators.maxLength(200)]],
    description: [this.account?.description ?? ''],
    role: [normalizeRole(this.account?.role) || 'USER', Validators.required],
    status: [(this.account?.status ?? 'active') as AccountStatus],
    rateLimit: [this.account?.rate_limit ?? 100, [Validators.required, Validators.min(1)]],
  });
  protected readonly busy = signal(false);
  protected readonly error = signal('');

  constructor() {
    if (this.account?.is_system) {
      this.form.controls.role.disable();
      this.form.controls.status.disable();
    }
  }

  protected submit(): void {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      this.error.set('Проверьте поля формы');
      return;
    }
    const v = this.form.getRawValue();
    const request: Observable<unknown> = this.account
      ? this.api.update(this.account.id, {
          description: v.description,
          rate_limit: Number(v.rateLimit),
          // Поля системного аккаунта, которые нельзя менять, не отправляем вовсе.
          ...(this.account.is_system ? {} : { role: v.role, status: v.status }),
        })
      : this.api.create({ name: v.name.trim(), description: v.description || undefined, role: v.role, rate_limit: Number(v.rateLimit) });
    this.busy.set(true);
    this.error.set('');
    request.pipe(finalize(() => this.busy.set(false))).subscribe({
      next: (result) => this.ref.close(result),
      error: (err) => this.error.set(problemMessage(err)),
    });
  }
}
