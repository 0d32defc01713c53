import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { ServiceAccountsApi } from './service-accounts-api';

const BASE = 'http://localhost:8000/api/v1/service-accounts';

describe('ServiceAccountsApi', () => {
  let api: ServiceAccountsApi;
  let http: HttpTestingController;

  beforeEach(() => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting()] });
    api = TestBed.inject(ServiceAccountsApi);
    http = TestBed.inject(HttpTestingController);
  });

  afterEach(() => http.verify());

  it('list передаёт limit/offset и возвращает страницу', () => {
    let total = 0;
    api.list(20, 40).subscribe((p) => (total = p.total));
    const req = http.expectOne((r) => r.url === BASE);
    expect(req.request.params.get('limit')).toBe('20');
    expect(req.request.params.get('offset')).toBe('40');
    req.flush({ items: [], total: 41, limit: 20, offset: 40 });
    expect(total).toBe(41);
  });

  it('CRUD и ротация секрета', () => {
    api.create({ name: 'etl', role: 'USER', rate_limit: 100 }).subscribe();
    api.update('a1', { status: 'suspended' }).subscribe();
    api.rotateSecret('a1').subscribe();
    api.remove('a1').subscribe();
    api.get('a1').subscribe();
    expect(http.expectOne((r) => r.url === BASE && r.method === 'POST').request.body).toEqual({ name: 'etl', role: 'USER', rate_limit: 100 });
    expect(http.expectOne((r) => r.url === `${BASE}/a1` && r.method === 'PATCH').request.body).toEqual({ status: 'suspended' });
    expect(http.expectOne(`${BASE}/a1/rotate-secret`).request.method).toBe('POST');
    expect(http.expectOne((r) => r.url === `${BASE}/a1` && r.method === 'DELETE')).toBeTruthy();
    expect(http.expectOne((r) => r.url === `${BASE}/a1` && r.method === 'GET')).toBeTruthy();
  });

  it('вебхуки и журнал доставок', () => {
    let urls: string[] = [];
    api.webhooks('a1').subscribe((w) => (urls = w.map((x) => x.url)));
    http.expectOne(`${BASE}/a1/webhooks`).flush([{ id: 'w1', url: 'https://h', events: [], is_active: true }]);
    expect(urls).toEqual(['https://h']);

    api.createWebhook('a1', { url: 'https://h', events: ['file_uploaded'], is_active: true }).subscribe();
    api.updateWebhook('a1', 'w1', { is_active: false }).subscribe();
    api.deleteWebhook('a1', 'w1').subscribe();
    api.deliveries('a1', 'w1', 10, 0).subscribe();
    expect(http.expectOne((r) => r.url === `${BASE}/a1/webhooks` && r.method === 'POST').request.body.events).toEqual(['file_uploaded']);
    expect(http.expectOne((r) => r.url === `${BASE}/a1/webhooks/w1` && r.method === 'PATCH').request.body).toEqual({ is_active: false });
    expect(http.expectOne((r) => r.url === `${BASE}/a1/webhooks/w1` && r.method === 'DELETE')).toBeTruthy();
    expect(http.expectOne((r) => r.url === `${BASE}/a1/webhooks/w1/deliveries`).request.params.get('limit')).toBe('10');
  });
});
