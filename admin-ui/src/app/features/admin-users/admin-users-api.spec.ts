import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { AdminUsersApi } from './admin-users-api';

const BASE = 'http://localhost:8000/api/v1/admin-users';

describe('AdminUsersApi', () => {
  it('CRUD по /admin-users', () => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting()] });
    const api = TestBed.inject(AdminUsersApi);
    const http = TestBed.inject(HttpTestingController);

    let count = 0;
    api.list(25, 0).subscribe((p) => (count = p.items.length));
    http.expectOne((r) => r.url === BASE && r.params.get('limit') === '25').flush({ items: [{ id: 1, username: 'a', role: 'ADMIN' }], total: 1, limit: 25, offset: 0 });
    expect(count).toBe(1);

    api.create({ username: 'ivanov', password: 'x'.repeat(12), role: 'AUDITOR' }).subscribe();
    api.update('u2', { is_active: false }).subscribe();
    api.remove('u2').subscribe();
    expect(http.expectOne((r) => r.method === 'POST').request.body.username).toBe('ivanov');
    expect(http.expectOne((r) => r.method === 'PATCH').request.url).toBe(`${BASE}/u2`);
    expect(http.expectOne((r) => r.method === 'DELETE').request.url).toBe(`${BASE}/u2`);
    http.verify();
  });
});
