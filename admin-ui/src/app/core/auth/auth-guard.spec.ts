import { TestBed } from '@angular/core/testing';
import { ActivatedRouteSnapshot, Router, RouterStateSnapshot, UrlTree, provideRouter } from '@angular/router';
import { signal } from '@angular/core';
import { authGuard, guestGuard } from './auth-guard';
import { Session } from './session';

describe('authGuard / guestGuard', () => {
  const authenticated = signal(false);

  beforeEach(() => {
    TestBed.configureTestingModule({
      providers: [provideRouter([]), { provide: Session, useValue: { isAuthenticated: authenticated } }],
    });
  });

  const run = (guard: typeof authGuard, url = '/files') =>
    TestBed.runInInjectionContext(() => guard({} as ActivatedRouteSnapshot, { url } as RouterStateSnapshot));

  it('без входа уводит на /login с returnUrl', () => {
    authenticated.set(false);
    const result = run(authGuard) as UrlTree;
    expect(TestBed.inject(Router).serializeUrl(result)).toBe('/login?returnUrl=%2Ffiles');
    expect(run(guestGuard)).toBe(true);
  });

  it('после входа пускает внутрь и не пускает на /login', () => {
    authenticated.set(true);
    expect(run(authGuard)).toBe(true);
    expect(TestBed.inject(Router).serializeUrl(run(guestGuard) as UrlTree)).toBe('/dashboard');
  });
});
