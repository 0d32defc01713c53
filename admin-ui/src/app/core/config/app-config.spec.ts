import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { AppConfig, DEFAULT_CONFIG, mergeConfig } from './app-config';

describe('AppConfig', () => {
  let config: AppConfig;
  let http: HttpTestingController;

  beforeEach(() => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting()] });
    config = TestBed.inject(AppConfig);
    http = TestBed.inject(HttpTestingController);
  });

  it('берёт адреса из config.json и срезает завершающий слэш', async () => {
    const done = config.load();
    http.expectOne('config.json').flush({ adminUrl: '/admin/', ingesterUrl: '/ingester', queryUrl: '/query' });
    await done;
    expect(config.adminUrl).toBe('/admin');
    expect(config.ingesterUrl).toBe('/ingester');
    expect(config.queryUrl).toBe('/query');
  });

  it('при ошибке загрузки остаётся на адресах по умолчанию', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const done = config.load();
    http.expectOne('config.json').flush('nope', { status: 404, statusText: 'Not Found' });
    await done;
    expect(config.current()).toEqual(DEFAULT_CONFIG);
  });

  it('узнаёт адреса своих сервисов', () => {
    expect(config.isServiceUrl('http://localhost:8000/api/v1/admin-auth/me')).toBe(true);
    expect(config.isServiceUrl('http://localhost:80001/x')).toBe(false);
    expect(config.isServiceUrl('https://example.org/api')).toBe(false);
  });

  it('mergeConfig заполняет пропущенные ключи значениями по умолчанию', () => {
    expect(mergeConfig({ queryUrl: ' http://q:1 ' })).toEqual({ ...DEFAULT_CONFIG, queryUrl: 'http://q:1' });
    expect(mergeConfig(null)).toEqual(DEFAULT_CONFIG);
  });
});
