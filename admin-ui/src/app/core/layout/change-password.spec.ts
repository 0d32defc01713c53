import { TestBed } from '@angular/core/testing';
import { MatDialogRef } from '@angular/material/dialog';
import { of } from 'rxjs';
import { Notifier } from '../api/notifier';
import { Session } from '../auth/session';
import { ChangePassword } from './change-password';

describe('ChangePassword', () => {
  const session = { changePassword: vi.fn(() => of({})), logout: vi.fn() };
  const ref = { close: vi.fn() };

  beforeEach(() => {
    TestBed.configureTestingModule({
      providers: [
        { provide: Session, useValue: session },
        { provide: MatDialogRef, useValue: ref },
        { provide: Notifier, useValue: { success: vi.fn(), error: vi.fn() } },
      ],
    });
  });

  function fill(el: HTMLElement, values: [string, string, string]): void {
    el.querySelectorAll('input').forEach((input, i) => {
      input.value = values[i];
      input.dispatchEvent(new Event('input'));
    });
    el.querySelector('form')!.dispatchEvent(new Event('submit'));
  }

  it('не отправляет несовпадающие пароли', async () => {
    const fixture = TestBed.createComponent(ChangePassword);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    fill(el, ['old', 'new-password-1', 'new-password-2']);
    await fixture.whenStable();
    expect(el.querySelector('.inline-error')?.textContent).toContain('не совпадают');
    expect(session.changePassword).not.toHaveBeenCalled();
  });

  it('меняет пароль и закрывает окно', async () => {
    const fixture = TestBed.createComponent(ChangePassword);
    await fixture.whenStable();
    fill(fixture.nativeElement, ['old', 'new-password-1', 'new-password-1']);
    expect(session.changePassword).toHaveBeenCalledWith('old', 'new-password-1');
    expect(ref.close).toHaveBeenCalledWith(true);
    expect(session.logout).toHaveBeenCalled();
  });
});
