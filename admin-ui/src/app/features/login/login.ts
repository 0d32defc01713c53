import { ChangeDetectionStrategy, Component, ElementRef, inject, input, signal, viewChild } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatIconModule } from '@angular/material/icon';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { Router } from '@angular/router';
import { problemCode, problemMessage } from '../../core/api/problem';
import { Session } from '../../core/auth/session';

/** Вход администратора: пароль, а если у пользователя включён TOTP — второй шаг с кодом. */
@Component({
  selector: 'app-login',
  imports: [
    ReactiveFormsModule, MatCardModule, MatFormFieldModule, MatInputModule, MatButtonModule,
    MatIconModule, MatProgressBarModule,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './login.html',
  styleUrl: './login.scss',
})
export class Login {
  private readonly session = inject(Session);
  private readonly router = inject(Router);

  /** Параметры адреса (?returnUrl=, ?reason=) приходят сюда через withComponentInputBinding. */
  readonly returnUrl = input<string>();
  readonly reason = input<string>();

  private readonly totpInput = viewChild<ElementRef<HTMLInputElement>>('totpInput');

  protected readonly form = inject(NonNullableFormBuilder).group({
    username: ['', Validators.required],
    password: ['', Validators.required],
    totp: [''],
  });
  protected readonly totpRequired = signal(false);
  protected readonly busy = signal(false);
  protected readonly error = signal('');

  protected submit(): void {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    const { username, password, totp } = this.form.getRawValue();
    if (this.totpRequired() && !/^\d{6,8}$/.test(totp.trim())) {
      this.error.set('Введите код из приложения-аутентификатора (6 цифр)');
      return;
    }
    this.busy.set(true);
    this.error.set('');
    this.session.login(username.trim(), password, this.totpRequired() ? totp.trim() : undefined).subscribe({
      next: () => void this.router.navigateByUrl(this.safeReturnUrl()),
      error: (err) => {
        this.busy.set(false);
        if (problemCode(err) === 'totp_required' && !this.totpRequired()) {
          // Пароль верен, нужен второй фактор: показываем поле кода, пароль не стираем.
          this.totpRequired.set(true);
          setTimeout(() => this.totpInput()?.nativeElement.focus());
          return;
        }
        this.error.set(problemMessage(err));
      },
    });
  }

  // Возвращаем только на свои страницы: чужой адрес в returnUrl — классический open redirect.
  private safeReturnUrl(): string {
    const url = this.returnUrl();
    return url && url.startsWith('/') && !url.startsWith('//') && !url.startsWith('/login') ? url : '/dashboard';
  }
}
