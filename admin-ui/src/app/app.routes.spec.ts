import { Type } from '@angular/core';
import { Route } from '@angular/router';
import { authGuard, guestGuard } from './core/auth/auth-guard';
import { routes } from './app.routes';

function flatten(list: Route[]): Route[] {
  return list.flatMap((r) => [r, ...flatten(r.children ?? [])]);
}

describe('routes', () => {
  it('всё, кроме входа, закрыто authGuard', () => {
    const login = routes.find((r) => r.path === 'login')!;
    const shell = routes.find((r) => r.path === '')!;
    expect(login.canActivate).toEqual([guestGuard]);
    expect(shell.canActivate).toEqual([authGuard]);
    expect(routes.length).toBe(2);
  });

  it('каждая страница грузится лениво и имеет русский заголовок', async () => {
    const pages = flatten(routes).filter((r) => r.loadComponent);
    expect(pages.map((r) => r.path)).toEqual(
      expect.arrayContaining(['dashboard', 'storage-elements', 'files', 'service-accounts', 'admin-users', 'audit', '**']),
    );
    for (const page of pages) {
      const component = (await page.loadComponent!()) as Type<unknown>;
      expect(typeof component).toBe('function');
      if (page.path !== '') {
        expect(String(page.title)).toMatch(/ArtStore$/);
      }
    }
  });
});
