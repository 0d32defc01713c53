import { HttpErrorResponse, provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { problemMessage } from '../../core/api/problem';
import { DOWNLOAD_LINK_TTL, FilesApi } from './files-api';

const Q = 'http://localhost:8030/api/v1';
const I = 'http://localhost:8020/api/v1';

describe('FilesApi', () => {
  let api: FilesApi;
  let http: HttpTestingController;

  beforeEach(() => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting()] });
    api = TestBed.inject(FilesApi);
    http = TestBed.inject(HttpTestingController);
  });

  afterEach(() => http.verify());

  it('search отправляет только заполненные поля', () => {
    api.search({ query: ' отчёт ', tags: [], filename: '', mode: 'fulltext', limit: 25, offset: 50, sort_by: 'created_at', sort_order: 'desc' }).subscribe();
    const req = http.expectOne(`${Q}/search`);
    expect(req.request.body).toEqual({ query: 'отчёт', mode: 'fulltext', limit: 25, offset: 50, sort_by: 'created_at', sort_order: 'desc' });
    req.flush({ results: [], total_count: 0, limit: 25, offset: 50, has_more: false, partial: false, unavailable_storage_elements: [] });
  });

  it('suggest берёт prefix из параметра', () => {
    let got: string[] = [];
    api.suggest('отч').subscribe((s) => (got = s.map((x) => x.text)));
    const req = http.expectOne((r) => r.url === `${Q}/search/suggest`);
    expect(req.request.params.get('prefix')).toBe('отч');
    req.flush({ suggestions: [{ text: 'отчёт.pdf', kind: 'filename' }] });
    expect(got).toEqual(['отчёт.pdf']);
  });

  it('downloadUrl: проверка одним байтом с токеном, затем ссылка на один раз — адрес через queryUrl', () => {
    let url: string | undefined;
    api.downloadUrl('a b').subscribe((u) => (url = u));
    const probe = http.expectOne(`${Q}/files/a%20b/download`);
    expect(probe.request.method).toBe('GET');
    expect(probe.request.headers.get('Range')).toBe('bytes=0-0');
    probe.flush(new Blob(['x']), { status: 206, statusText: 'Partial Content' });
    const create = http.expectOne(`${Q}/files/a%20b/links`);
    expect(create.request.method).toBe('POST');
    expect(create.request.body).toEqual({ expires_in: DOWNLOAD_LINK_TTL, max_downloads: 1 });
    create.flush({ id: 'L', token: 'L.1.s', path: '/api/v1/links/L.1.s', url: 'http://query-module:8030/api/v1/links/L.1.s',
                   expires_at: '2026-12-03T20:00:00Z', max_downloads: 1 });
    expect(url).toBe('http://localhost:8030/api/v1/links/L.1.s');
  });

  it('downloadUrl: пустой файл (416 на первый байт) тоже скачивается', () => {
    let url: string | undefined;
    api.downloadUrl('empty').subscribe((u) => (url = u));
    http.expectOne(`${Q}/files/empty/download`).flush(new Blob([]), { status: 416, statusText: 'Range Not Satisfiable' });
    http.expectOne(`${Q}/files/empty/links`).flush({ path: '/api/v1/links/E.1.s' });
    expect(url).toBe('http://localhost:8030/api/v1/links/E.1.s');
  });

  it('downloadUrl: архив — problem+json из Blob, ссылка не выдаётся', async () => {
    const result = new Promise<unknown>((resolve) => api.downloadUrl('arch').subscribe({ error: resolve }));
    http.expectOne(`${Q}/files/arch/download`).flush(
      new Blob([JSON.stringify({ detail: 'Файл в холодном архиве', code: 'file_archived' })]),
      { status: 409, statusText: 'Conflict' },
    );
    const err = (await result) as HttpErrorResponse;
    expect(err.status).toBe(409);
    expect(problemMessage(err)).toBe('Файл в холодном архиве');
    http.expectNone(`${Q}/files/arch/links`);
  });

  it('изменения идут в ingester, restore — в query', () => {
    api.remove('f1').subscribe();
    api.finalize('f1').subscribe();
    api.transfer('f1', 'se-02').subscribe();
    api.restore('f1').subscribe();
    api.metadata('f1').subscribe();
    expect(http.expectOne(`${I}/files/f1`).request.method).toBe('DELETE');
    expect(http.expectOne(`${I}/finalize/f1`).request.method).toBe('POST');
    expect(http.expectOne(`${I}/files/f1/transfer`).request.body).toEqual({ target_storage_element_id: 'se-02' });
    expect(http.expectOne(`${Q}/files/f1/restore`).request.method).toBe('POST');
    expect(http.expectOne(`${Q}/files/f1`).request.method).toBe('GET');
  });

  it('awaitTransaction опрашивает сагу до итогового состояния', () => {
    vi.useFakeTimers();
    try {
      const states: string[] = [];
      const tx = { id: 't1', kind: 'finalize', file_id: 'f1', source: 'se-01', target: 'se-02', state: 'pending' };
      api.awaitTransaction(tx).subscribe((t) => states.push(t.state));
      vi.advanceTimersByTime(1000);
      http.expectOne(`${I}/transactions/t1`).flush({ ...tx, state: 'pending', step: 'copy' });
      expect(states).toEqual([]);
      vi.advanceTimersByTime(1000);
      http.expectOne(`${I}/transactions/t1`).flush({ ...tx, state: 'done', step: 'done' });
      expect(states).toEqual(['done']);
      vi.advanceTimersByTime(5000);
      http.expectNone(`${I}/transactions/t1`);
    } finally {
      vi.useRealTimers();
    }
  });
});
