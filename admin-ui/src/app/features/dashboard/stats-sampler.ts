import { HttpClient } from '@angular/common/http';
import { DestroyRef, Injectable, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { Observable, catchError, forkJoin, map, of, switchMap, timer } from 'rxjs';
import { AppConfig } from '../../core/config/app-config';

/** Счётчики /api/v1/stats ingester и query: монотонно растут с момента старта процесса. */
export interface ServiceCounters {
  uploads_total?: number;
  upload_bytes_total?: number;
  errors_total?: number;
  downloads_total?: number;
  download_bytes_total?: number;
}

export interface Sample {
  t: number;
  ingester: ServiceCounters | null;
  query: ServiceCounters | null;
}

/** Скорости за интервал между двумя замерами, в единицах за секунду. */
export interface RatePoint {
  t: number;
  uploadBytes: number;
  uploads: number;
  downloadBytes: number;
  downloads: number;
  errors: number;
}

export function ratesBetween(a: Sample, b: Sample): RatePoint {
  const dt = Math.max((b.t - a.t) / 1000, 0.001);
  const rate = (pick: (s: Sample) => number | undefined): number => {
    const before = pick(a);
    const after = pick(b);
    if (before === undefined || after === undefined) {
      return 0;
    }
    // Счётчик уменьшился — сервис перезапустился; прирост с нуля равен текущему значению.
    const delta = after >= before ? after - before : after;
    return delta / dt;
  };
  return {
    t: b.t,
    uploadBytes: rate((s) => s.ingester?.upload_bytes_total),
    uploads: rate((s) => s.ingester?.uploads_total),
    downloadBytes: rate((s) => s.query?.download_bytes_total),
    downloads: rate((s) => s.query?.downloads_total),
    errors: rate((s) => sum(s.ingester?.errors_total, s.query?.errors_total)),
  };
}

function sum(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);
}

/**
 * Периодически снимает счётчики сервисов прямо из браузера и считает скорости.
 * Хранит историю только пока открыт обзор: для долгой истории есть Prometheus и Grafana.
 * Провайдится на уровне компонента — уходим со страницы, опрос прекращается.
 */
@Injectable()
export class StatsSampler {
  private readonly http = inject(HttpClient);
  private readonly config = inject(AppConfig);
  private readonly destroyRef = inject(DestroyRef);

  readonly samples = signal<Sample[]>([]);
  readonly rates = computed(() => {
    const s = this.samples();
    return s.slice(1).map((b, i) => ratesBetween(s[i], b));
  });
  readonly latest = computed(() => {
    const r = this.rates();
    return r.length ? r[r.length - 1] : null;
  });
  readonly ingesterUp = computed(() => this.lastSample()?.ingester !== null && this.lastSample() !== null);
  readonly queryUp = computed(() => this.lastSample()?.query !== null && this.lastSample() !== null);

  private readonly lastSample = computed(() => {
    const s = this.samples();
    return s.length ? s[s.length - 1] : null;
  });

  start(intervalMs = 5000, maxSamples = 61): void {
    timer(0, intervalMs)
      .pipe(
        switchMap(() => this.sampleOnce()),
        takeUntilDestroyed(this.destroyRef),
      )
      .subscribe((sample) => this.samples.update((list) => [...list, sample].slice(-maxSamples)));
  }

  sampleOnce(): Observable<Sample> {
    return forkJoin({
      ingester: this.counters(`${this.config.ingesterUrl}/api/v1/stats`),
      query: this.counters(`${this.config.queryUrl}/api/v1/stats`),
    }).pipe(map(({ ingester, query }) => ({ t: Date.now(), ingester, query })));
  }

  // Недоступный сервис не должен ломать обзор: его график просто пустеет.
  private counters(url: string): Observable<ServiceCounters | null> {
    return this.http.get<ServiceCounters>(url).pipe(catchError(() => of(null)));
  }
}
