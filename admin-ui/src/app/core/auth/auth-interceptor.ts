import { HttpErrorResponse, HttpInterceptorFn, HttpRequest } from '@angular/common/http';
import { inject } from '@angular/core';
import { catchError, switchMap, throwError } from 'rxjs';
import { AppConfig } from '../config/app-config';
import { Session } from './session';

/**
 * Добавляет Bearer только к запросам в наши сервисы: токен администратора
 * не должен утечь на сторонний адрес (например, при discover чужого URL).
 * На 401 один раз обновляет токен и повторяет запрос.
 */
export const authInterceptor: HttpInterceptorFn = (req, next) => {
  const config = inject(AppConfig);
  const session = inject(Session);

  if (!config.isServiceUrl(req.url) || session.isAuthEndpoint(req.url)) {
    return next(req);
  }
  const token = session.accessToken();
  return next(token ? withBearer(req, token) : req).pipe(
    catchError((err: unknown) => {
      if (!(err instanceof HttpErrorResponse) || err.status !== 401 || !token) {
        return throwError(() => err);
      }
      if (!session.canRefresh()) {
        session.logout('expired');
        return throwError(() => err);
      }
      return session.refresh().pipe(
        catchError(() => {
          session.logout('expired');
          return throwError(() => err);
        }),
        switchMap((fresh) => next(withBearer(req, fresh))),
      );
    }),
  );
};

function withBearer<T>(req: HttpRequest<T>, token: string): HttpRequest<T> {
  return req.clone({ setHeaders: { Authorization: `Bearer ${token}` } });
}
