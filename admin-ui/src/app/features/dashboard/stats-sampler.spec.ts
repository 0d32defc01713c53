import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { Sample, StatsSampler, ratesBetween } from './stats-sampler';

describe('ratesBetween', () => {
  const a: Sample = { t: 0, ingester: { uploads_total: 10, upload_bytes_total: 1000, errors_total: 1 }, query: { downloads_total: 5, download_bytes_total: 500, errors_total: 0 } };

  it('делит приросты счётчиков на интервал', () => {
    const b: Sample = { t: 10_000, ingester: { uploads_total: 20, upload_bytes_total: 11_000, errors_total: 2 }, query: { downloads_total: 7, download_bytes_total: 2500, errors_total: 1 } };
    expect(ratesBetween(a, b)).toEqual({ t: 10_000, uploadBytes: 1000, uploads: 1, downloadBytes: 200, downloads: 0.2, errors: 0.2 });
  });

  it('сброс счётчика (перезапуск) не даёт отрицательной скорости', () => {
    const b: Sample = { t: 1000, ingester: { uploads_total: 3, upload_bytes_total: 300 }, query: null };
    const r = ratesBetween(a, b);
    expect(r.uploads).toBe(3);
    expect(r.uploadBytes).toBe(300);
    expect(r.downloads).toBe(0);
  });
});

describe('StatsSampler', () => {
  let sampler: StatsSampler;
  let http: HttpTestingController;

  beforeEach(() => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting(), StatsSampler] });
    sampler = TestBed.inject(StatsSampler);
    http = TestBed.inject(HttpTestingController);
  });

  it('опрашивает оба сервиса и переживает недоступность одного', () => {
    let sample: Sample | undefined;
    sampler.sampleOnce().subscribe((s) => (sample = s));
    http.expectOne('http://localhost:8020/api/v1/stats').flush({ uploads_total: 1 });
    http.expectOne('http://localhost:8030/api/v1/stats').flush('down', { status: 503, statusText: 'Unavailable' });
    expect(sample?.ingester).toEqual({ uploads_total: 1 });
    expect(sample?.query).toBeNull();
  });

  it('копит замеры и считает скорости', () => {
    vi.useFakeTimers();
    try {
      sampler.start(1000, 3);
      for (let i = 0; i < 4; i++) {
        // timer(0, …) тоже асинхронный: первый замер — после нулевой задержки
        vi.advanceTimersByTime(i > 0 ? 1000 : 0);
        http.expectOne('http://localhost:8020/api/v1/stats').flush({ upload_bytes_total: i * 2048, uploads_total: i });
        http.expectOne('http://localhost:8030/api/v1/stats').flush({ download_bytes_total: 0, downloads_total: 0 });
      }
      expect(sampler.samples().length).toBe(3);
      expect(sampler.rates().length).toBe(2);
      expect(sampler.latest()?.uploadBytes).toBeCloseTo(2048, 0);
      expect(sampler.ingesterUp()).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
