/** Роли одинаковы для сервисных аккаунтов и администраторов (docs/architecture.md §6.3). */
export const ROLES = ['ADMIN', 'USER', 'AUDITOR', 'READONLY'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_LABELS: Record<Role, string> = {
  ADMIN: 'ADMIN — всё',
  USER: 'USER — загрузка, чтение, финализация',
  AUDITOR: 'AUDITOR — чтение и аудит',
  READONLY: 'READONLY — поиск и скачивание',
};

/** Сервер может прислать роль в любом регистре; в форме и таблице показываем каноническую. */
export function normalizeRole(role: string | null | undefined): string {
  return (role ?? '').toUpperCase();
}
