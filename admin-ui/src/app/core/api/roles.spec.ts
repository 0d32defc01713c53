import { ROLES, ROLE_LABELS, normalizeRole } from './roles';

describe('roles', () => {
  it('у каждой роли есть подпись', () => {
    expect(ROLES.every((r) => ROLE_LABELS[r].startsWith(r))).toBe(true);
  });
  it('normalizeRole приводит к верхнему регистру', () => {
    expect(normalizeRole('admin')).toBe('ADMIN');
    expect(normalizeRole(undefined)).toBe('');
  });
});
