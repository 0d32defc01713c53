import { inject } from '@angular/core';
import { CanActivateFn, Router } from '@angular/router';
import { Session } from './session';

/** Без токенов — на страницу входа, с возвратом туда, куда шли. */
export const authGuard: CanActivateFn = (_route, state) => {
  const session = inject(Session);
  if (session.isAuthenticated()) {
    return true;
  }
  return inject(Router).createUrlTree(['/login'], { queryParams: { returnUrl: state.url } });
};

/** Уже вошедшему незачем видеть форму входа. */
export const guestGuard: CanActivateFn = () => {
  const session = inject(Session);
  return session.isAuthenticated() ? inject(Router).createUrlTree(['/dashboard']) : true;
};
