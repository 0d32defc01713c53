import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { StorageElementsApi, formatLag, nextMode, replicationLabel, statusClass, usagePercent } from './storage-elements-api';

const BASE = 'http://localhost:8000/api/v1/storage-elements';

describe('StorageElementsApi', () => {
  let api: StorageElementsApi;
  let http: HttpTestingController;

  beforeEach(() => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting()] });
    api = TestBed.inject(StorageElementsApi);
    http = TestBed.inject(HttpTestingController);
  });

  afterEach(() => http.verify());

  it('list разворачивает страницу {items,total}', () => {
    let names: string[] = [];
    api.list().subscribe((items) => (names = items.map((e) => e.name)));
    const req = http.expectOne((r) => r.url === BASE);
    expect(req.request.params.get('limit')).toBe('500');
    req.flush({ items: [{ id: 1, name: 'se-01' }], total: 1, limit: 500, offset: 0 });
    expect(names).toEqual(['se-01']);
  });

  it('discover и register шлют api_url', () => {
    api.discover('http://se:8010').subscribe();
    expect(http.expectOne(`${BASE}/discover`).request.body).toEqual({ api_url: 'http://se:8010' });
    api.register({ api_url: 'http://se:8010', name: 'se', priority: 10 }).subscribe();
    const req = http.expectOne(BASE);
    expect(req.request.method).toBe('POST');
    expect(req.request.body).toEqual({ api_url: 'http://se:8010', name: 'se', priority: 10 });
  });

  it('операции над элементом идут по своим адресам', () => {
    api.sync('se-7').subscribe();
    api.changeMode('se-7', 'ro').subscribe();
    api.cacheConsistency('se-7').subscribe();
    api.cacheRebuild('se-7').subscribe();
    api.scrub('se-7').subscribe();
    api.summary().subscribe();
    api.remove('se-7').subscribe();
    expect(http.expectOne(`${BASE}/se-7/sync`).request.method).toBe('POST');
    expect(http.expectOne(`${BASE}/se-7/mode`).request.body).toEqual({ mode: 'ro' });
    expect(http.expectOne(`${BASE}/se-7/cache/consistency`).request.method).toBe('GET');
    expect(http.expectOne(`${BASE}/se-7/cache/rebuild`).request.method).toBe('POST');
    expect(http.expectOne(`${BASE}/se-7/scrub`).request.method).toBe('POST');
    expect(http.expectOne(`${BASE}/stats/summary`).request.method).toBe('GET');
    expect(http.expectOne(`${BASE}/se-7`).request.method).toBe('DELETE');
  });
});

describe('помощники режимов и ёмкости', () => {
  it('nextMode: только rw→ro→ar', () => {
    expect(nextMode('rw')).toBe('ro');
    expect(nextMode('ro')).toBe('ar');
    expect(nextMode('ar')).toBeNull();
    expect(nextMode('edit')).toBeNull();
  });
  it('usagePercent без ёмкости — null, иначе не больше 100', () => {
    expect(usagePercent({ capacity_bytes: 0, used_bytes: 5 })).toBeNull();
    expect(usagePercent({ capacity_bytes: 200, used_bytes: 50 })).toBe(25);
    expect(usagePercent({ capacity_bytes: 100, used_bytes: 150 })).toBe(100);
  });
  it('statusClass', () => {
    expect(statusClass('online')).toBe('ok');
    expect(statusClass('DEGRADED')).toBe('warn');
    expect(statusClass('offline')).toBe('bad');
    expect(statusClass(undefined)).toBe('');
  });
});

describe('отставание и режим репликации', () => {
  it('formatLag пишет секунды, минуты и часы по-русски, null — прочерк', () => {
    expect(formatLag(0)).toBe('0 с');
    expect(formatLag(59.6)).toBe('1 мин');
    expect(formatLag(45)).toBe('45 с');
    expect(formatLag(754)).toBe('12 мин');
    expect(formatLag(3600)).toBe('1 ч');
    expect(formatLag(3 * 3600 + 5 * 60 + 7)).toBe('3 ч 5 мин');
    expect(formatLag(null)).toBe('—');
    expect(formatLag(undefined)).toBe('—');
  });

  it('replicationLabel — режим и кворум из числа членов', () => {
    const members = [{ id: 'a', api_url: 'x', status: 'online' }, { id: 'b', api_url: 'y', status: 'online' }];
    expect(replicationLabel({ mode: 'sync', quorum: 2, members: [...members, { id: 'c', api_url: 'z', status: 'offline' }] }))
      .toBe('sync · кворум 2 из 3');
    expect(replicationLabel({ mode: 'async', quorum: null, members })).toBe('async · членов: 2');
  });
});
