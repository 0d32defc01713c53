import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { AuditApi } from './audit-api';

describe('AuditApi', () => {
  it('передаёт только заполненные фильтры и проверяет цепочку', () => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting()] });
    const api = TestBed.inject(AuditApi);
    const http = TestBed.inject(HttpTestingController);

    api.list({ action: ' service_account.rotate_secret ', actor: '', file_id: ' f-1 ', outcome: 'success' }, 50, 100)
      .subscribe();
    const req = http.expectOne((r) => r.url === 'http://localhost:8000/api/v1/audit');
    expect(req.request.params.keys().sort()).toEqual(['action', 'file_id', 'limit', 'offset', 'outcome']);
    expect(req.request.params.get('file_id')).toBe('f-1');
    expect(req.request.params.get('action')).toBe('service_account.rotate_secret');
    expect(req.request.params.get('offset')).toBe('100');
    req.flush({ items: [], total: 0 });

    let valid: boolean | undefined;
    api.verify().subscribe((v) => (valid = v.valid));
    http.expectOne('http://localhost:8000/api/v1/audit/verify').flush({ valid: true, checked: 10, first_bad_id: null });
    expect(valid).toBe(true);
    http.verify();
  });
});
