import { HttpClient, provideHttpClient, withInterceptors } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { Router, provideRouter } from '@angular/router';
import { authInterceptor } from './auth-interceptor';
import { Session } from './session';

const ME = 'http://localhost:8000/api/v1/admin-auth/me';

describe('authInterceptor', () => {
  let http: HttpTestingController;
  let client: HttpClient;
  let session: Session;

  beforeEach(() => {
    sessionStorage.clear();
    TestBed.configureTestingModule({
      providers: [
        provideHttpClient(withInterceptors([authInterceptor])),
        provideHttpClientTesting(),
        provideRouter([]),
      ],
    });
    http = TestBed.inject(HttpTestingController);
    client = TestBed.inject(HttpClient);
    session = TestBed.inject(Session);
    vi.spyOn(TestBed.inject(Router), 'navigate').mockResolvedValue(true);
    session.login('admin', 'pw').subscribe();
    http.expectOne('http://localhost:8000/api/v1/admin-auth/login').flush({
      access_token: 'tok',
      refresh_token: 'ref',
      token_type: 'bearer',
      expires_in: 3600,
    });
    http.expectOne(ME).flush({ id: 1, username: 'admin', role: 'ADMIN', totp_enabled: false });
  });

  afterEach(() => http.verify());

  it('добавляет Bearer к запросам в сервисы', () => {
    client.get('http://localhost:8030/api/v1/stats').subscribe();
    expect(http.expectOne('http://localhost:8030/api/v1/stats').request.headers.get('Authorization')).toBe('Bearer tok');
  });

  it('не отдаёт токен чужим адресам', () => {
    client.get('https://example.org/x').subscribe();
    expect(http.expectOne('https://example.org/x').request.headers.has('Authorization')).toBe(false);
  });

  it('на 401 обновляет токен и повторяет запрос', () => {
    let body: unknown;
    client.get(ME).subscribe((b) => (body = b));
    http.expectOne(ME).flush({ detail: 'expired' }, { status: 401, statusText: 'Unauthorized' });
    const refresh = http.expectOne('http://localhost:8000/api/v1/admin-auth/refresh');
    expect(refresh.request.headers.has('Authorization')).toBe(false);
    refresh.flush({ access_token: 'tok2', token_type: 'bearer', expires_in: 3600 });
    const retry = http.expectOne(ME);
    expect(retry.request.headers.get('Authorization')).toBe('Bearer tok2');
    retry.flush({ ok: true });
    expect(body).toEqual({ ok: true });
  });

  it('если refresh не удался — выход и исходная ошибка', () => {
    let status = 0;
    client.get(ME).subscribe({ error: (e) => (status = e.status) });
    http.expectOne(ME).flush({}, { status: 401, statusText: 'Unauthorized' });
    http.expectOne('http://localhost:8000/api/v1/admin-auth/refresh').flush({}, { status: 401, statusText: 'Unauthorized' });
    expect(status).toBe(401);
    expect(session.isAuthenticated()).toBe(false);
  });
});
