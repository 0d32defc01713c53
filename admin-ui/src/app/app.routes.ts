import { Routes } from '@angular/router';
import { authGuard, guestGuard } from './core/auth/auth-guard';

export const routes: Routes = [
  {
    path: 'login',
    canActivate: [guestGuard],
    title: 'Вход — ArtStore',
    loadComponent: () => import('./features/login/login').then((m) => m.Login),
  },
  {
    path: '',
    canActivate: [authGuard],
    loadComponent: () => import('./core/layout/shell').then((m) => m.Shell),
    children: [
      { path: '', pathMatch: 'full', redirectTo: 'dashboard' },
      {
        path: 'dashboard',
        title: 'Обзор — ArtStore',
        loadComponent: () => import('./features/dashboard/dashboard').then((m) => m.Dashboard),
      },
      {
        path: 'storage-elements',
        title: 'Элементы хранения — ArtStore',
        loadComponent: () =>
          import('./features/storage-elements/storage-element-list').then((m) => m.StorageElementList),
      },
      {
        path: 'files',
        title: 'Файлы — ArtStore',
        loadComponent: () => import('./features/files/file-search').then((m) => m.FileSearch),
      },
      {
        path: 'service-accounts',
        title: 'Сервисные аккаунты — ArtStore',
        loadComponent: () =>
          import('./features/service-accounts/service-account-list').then((m) => m.ServiceAccountList),
      },
      {
        path: 'service-accounts/:accountId/webhooks',
        title: 'Вебхуки — ArtStore',
        loadComponent: () => import('./features/service-accounts/webhook-list').then((m) => m.WebhookList),
      },
      {
        path: 'admin-users',
        title: 'Администраторы — ArtStore',
        loadComponent: () => import('./features/admin-users/admin-user-list').then((m) => m.AdminUserList),
      },
      {
        path: 'audit',
        title: 'Журнал аудита — ArtStore',
        loadComponent: () => import('./features/audit/audit-log').then((m) => m.AuditLog),
      },
      {
        path: '**',
        title: 'Не найдено — ArtStore',
        loadComponent: () => import('./shared/not-found').then((m) => m.NotFound),
      },
    ],
  },
];
