import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { Router, provideRouter } from '@angular/router';
import { Session } from './session';

const ADMIN = 'http://localhost:8000/api/v1/admin-auth';

describe('Session', () => {
  let session: Session;
  let http: HttpTestingController;

  beforeEach(() => {
    sessionStorage.clear();
    vi.useFakeTimers();
    TestBed.configureTestingModule({
      providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])],
    });
    session = TestBed.inject(Session);
    http = TestBed.inject(HttpTestingController);
  });

  afterEach(() => {
    http.verify();
    vi.useRealTimers();
  });

  function login(): void {
    session.login('admin', 'secret').subscribe();
    const req = http.expectOne(`${ADMIN}/login`);
    expect(req.request.body).toEqual({ username: 'admin', password: 'secret' });
    req.flush({ access_token: 'a1', refresh_token: 'r1', token_type: 'bearer', expires_in: 600 });
    http.expectOne(`${ADMIN}/me`).flush({ id: 1, username: 'admin', role: 'ADMIN', totp_enabled: false });
  }

  it('вход сохраняет токены и загружает пользователя', () => {
    login();
    expect(session.isAuthenticated()).toBe(true);
    expect(session.accessToken()).toBe('a1');
    expect(session.user()?.username).toBe('admin');
    expect(sessionStorage.getItem('artstore.admin-ui.session')).toContain('a1');
  });

  it('TOTP-код уходит полем totp_code', () => {
    session.login('admin', 'secret', '123456').subscribe({ error: () => undefined });
    const req = http.expectOne(`${ADMIN}/login`);
    expect(req.request.body).toEqual({ username: 'admin', password: 'secret', totp_code: '123456' });
    req.flush({ detail: 'x' }, { status: 401, statusText: 'Unauthorized' });
  });

  it('обновляет токен заранее, до истечения', () => {
    login();
    vi.advanceTimersByTime(600_000 - 60_000);
    const req = http.expectOne(`${ADMIN}/refresh`);
    expect(req.request.body).toEqual({ refresh_token: 'r1' });
    req.flush({ access_token: 'a2', token_type: 'bearer', expires_in: 600 });
    expect(session.accessToken()).toBe('a2');
    expect(session.canRefresh()).toBe(true);
  });

  it('параллельные refresh идут одним запросом', () => {
    login();
    const got: string[] = [];
    session.refresh().subscribe((t) => got.push(t));
    session.refresh().subscribe((t) => got.push(t));
    http.expectOne(`${ADMIN}/refresh`).flush({ access_token: 'a3', refresh_token: 'r3', token_type: 'bearer', expires_in: 600 });
    expect(got).toEqual(['a3', 'a3']);
  });

  it('неудачный плановый refresh завершает сессию', () => {
    const navigate = vi.spyOn(TestBed.inject(Router), 'navigate').mockResolvedValue(true);
    login();
    vi.advanceTimersByTime(540_000);
    http.expectOne(`${ADMIN}/refresh`).flush({ detail: 'expired' }, { status: 401, statusText: 'Unauthorized' });
    expect(session.isAuthenticated()).toBe(false);
    expect(navigate).toHaveBeenCalledWith(['/login'], { queryParams: { reason: 'expired' } });
  });

  it('выход очищает токены', () => {
    vi.spyOn(TestBed.inject(Router), 'navigate').mockResolvedValue(true);
    login();
    session.logout();
    expect(session.isAuthenticated()).toBe(false);
    expect(session.user()).toBeNull();
    expect(sessionStorage.getItem('artstore.admin-ui.session')).toBeNull();
  });
});
