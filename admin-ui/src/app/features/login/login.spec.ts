import { HttpErrorResponse } from '@angular/common/http';
import { TestBed } from '@angular/core/testing';
import { Router, provideRouter } from '@angular/router';
import { of, throwError } from 'rxjs';
import { Session } from '../../core/auth/session';
import { Login } from './login';

describe('Login', () => {
  const login = vi.fn();
  let navigate: ReturnType<typeof vi.spyOn>;

  beforeEach(() => {
    login.mockReset();
    TestBed.configureTestingModule({
      providers: [provideRouter([]), { provide: Session, useValue: { login } }],
    });
    navigate = vi.spyOn(TestBed.inject(Router), 'navigateByUrl').mockResolvedValue(true);
  });

  async function setup(returnUrl?: string) {
    const fixture = TestBed.createComponent(Login);
    if (returnUrl) {
      fixture.componentRef.setInput('returnUrl', returnUrl);
    }
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    const type = (name: string, value: string) => {
      const input = el.querySelector<HTMLInputElement>(`input[name=${name}]`)!;
      input.value = value;
      input.dispatchEvent(new Event('input'));
    };
    const submit = async () => {
      el.querySelector('form')!.dispatchEvent(new Event('submit'));
      await fixture.whenStable();
    };
    return { fixture, el, type, submit };
  }

  it('входит и возвращает на исходную страницу', async () => {
    login.mockReturnValue(of({ username: 'admin' }));
    const { type, submit } = await setup('/files');
    type('username', ' admin ');
    type('password', 'pw');
    await submit();
    expect(login).toHaveBeenCalledWith('admin', 'pw', undefined);
    expect(navigate).toHaveBeenCalledWith('/files');
  });

  it('не уводит на чужой адрес из returnUrl', async () => {
    login.mockReturnValue(of({ username: 'admin' }));
    const { type, submit } = await setup('//evil.example/x');
    type('username', 'admin');
    type('password', 'pw');
    await submit();
    expect(navigate).toHaveBeenCalledWith('/dashboard');
  });

  it('на totp_required показывает поле кода и повторяет вход с ним', async () => {
    login.mockReturnValueOnce(
      throwError(() => new HttpErrorResponse({ status: 401, error: { detail: 'Нужен код', code: 'totp_required' } })),
    );
    const { el, type, submit } = await setup();
    type('username', 'admin');
    type('password', 'pw');
    await submit();
    expect(el.querySelector('[data-testid=totp]')).not.toBeNull();
    expect(el.querySelector('[data-testid=login-error]')).toBeNull();

    login.mockReturnValueOnce(of({ username: 'admin' }));
    type('totp', '123456');
    await submit();
    expect(login).toHaveBeenLastCalledWith('admin', 'pw', '123456');
  });

  it('показывает detail ошибки входа', async () => {
    login.mockReturnValue(
      throwError(() => new HttpErrorResponse({ status: 401, error: { detail: 'Неверное имя или пароль', code: 'invalid_credentials' } })),
    );
    const { el, type, submit } = await setup();
    type('username', 'admin');
    type('password', 'bad');
    await submit();
    expect(el.querySelector('[data-testid=login-error]')?.textContent).toContain('Неверное имя или пароль');
  });
});
