import { signal } from '@angular/core';
import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';
import { of } from 'rxjs';
import { AdminMe, Session } from '../auth/session';
import { Shell } from './shell';

describe('Shell', () => {
  const user = signal<AdminMe | null>(null);
  const session = {
    user,
    loadMe: vi.fn(() => {
      user.set({ id: 1, username: 'admin', role: 'ADMIN', totp_enabled: false, password_expires_at: new Date(Date.now() + 86_400_000).toISOString() });
      return of(user()!);
    }),
    logout: vi.fn(),
  };

  beforeEach(() => {
    user.set(null);
    TestBed.configureTestingModule({
      providers: [provideRouter([]), { provide: Session, useValue: session }],
    });
  });

  it('загружает профиль, показывает меню и предупреждает об истечении пароля', async () => {
    const fixture = TestBed.createComponent(Shell);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    expect(session.loadMe).toHaveBeenCalled();
    expect(el.querySelectorAll('a[mat-list-item]').length).toBe(6);
    expect(el.querySelector('[data-testid=user-menu]')?.textContent).toContain('admin');
    expect(el.querySelector('.password-banner')?.textContent).toContain('Срок действия пароля');
  });
});
