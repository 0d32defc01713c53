import { DecimalPipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, DestroyRef, OnInit, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatIconModule } from '@angular/material/icon';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { RouterLink } from '@angular/router';
import { catchError, forkJoin, of, switchMap, tap, timer } from 'rxjs';
import { problemMessage } from '../../core/api/problem';
import { Bytes } from '../../shared/bytes';
import { CapacityBar } from '../../shared/capacity-bar';
import { EmptyState } from '../../shared/empty-state';
import { Sparkline } from '../../shared/sparkline';
import {
  StorageElement,
  StorageElementsApi,
  StorageSummary,
  statusClass,
} from '../storage-elements/storage-elements-api';
import { StatsSampler } from './stats-sampler';

// Реестр меняется редко (admin опрашивает элементы сам), а счётчики скоростей — часто.
const REGISTRY_REFRESH_MS = 30_000;
const STATS_INTERVAL_MS = 5_000;

export interface Totals {
  elements: number;
  online: number;
  capacity: number;
  used: number;
  files: number;
  free: number;
  /** null — сервер это число не считает (в SummaryOut нет expiring_soon): тогда карточка показывает свободное место. */
  expiringSoon: number | null;
}

/** Итоги: что прислал сервер в сводке, то и берём; чего нет — досчитываем по списку элементов. */
export function computeTotals(summary: StorageSummary | null, elements: StorageElement[]): Totals {
  const sumOf = (pick: (e: StorageElement) => number | null | undefined) =>
    elements.reduce((acc, e) => acc + (pick(e) ?? 0), 0);
  const expiring = summary?.expiring_soon;
  const capacity = summary?.total_capacity_bytes ?? sumOf((e) => e.capacity_bytes);
  const used = summary?.total_used_bytes ?? sumOf((e) => e.used_bytes);
  return {
    elements: summary?.total_elements ?? elements.length,
    online: summary?.online_elements ?? elements.filter((e) => statusClass(e.status) === 'ok').length,
    capacity,
    used,
    files: summary?.total_files ?? sumOf((e) => e.file_count),
    free: summary?.free_bytes ?? Math.max(0, capacity - used),
    expiringSoon: typeof expiring === 'number' ? expiring : null,
  };
}

@Component({
  selector: 'app-dashboard',
  imports: [
    DecimalPipe, RouterLink, MatCardModule, MatIconModule, MatButtonModule, MatProgressBarModule,
    Bytes, CapacityBar, Sparkline, EmptyState,
  ],
  providers: [StatsSampler],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './dashboard.html',
  styleUrl: './dashboard.scss',
})
export class Dashboard implements OnInit {
  private readonly api = inject(StorageElementsApi);
  private readonly destroyRef = inject(DestroyRef);
  protected readonly stats = inject(StatsSampler);

  protected readonly elements = signal<StorageElement[]>([]);
  protected readonly summary = signal<StorageSummary | null>(null);
  protected readonly loading = signal(true);
  protected readonly error = signal('');

  protected readonly totals = computed(() => computeTotals(this.summary(), this.elements()));
  protected readonly uploadSeries = computed(() => this.stats.rates().map((r) => r.uploadBytes));
  protected readonly downloadSeries = computed(() => this.stats.rates().map((r) => r.downloadBytes));
  protected readonly errorSeries = computed(() => this.stats.rates().map((r) => r.errors * 60));
  protected readonly statusClass = statusClass;

  ngOnInit(): void {
    timer(0, REGISTRY_REFRESH_MS)
      .pipe(
        switchMap(() =>
          forkJoin({
            elements: this.api.list(),
            // Сводка — дополнение: без неё обзор всё равно строится по списку.
            summary: this.api.summary().pipe(catchError(() => of(null))),
          }).pipe(
            tap(() => this.error.set('')),
            catchError((err) => {
              this.error.set(problemMessage(err));
              return of(null);
            }),
          ),
        ),
        takeUntilDestroyed(this.destroyRef),
      )
      .subscribe((result) => {
        this.loading.set(false);
        if (result) {
          this.elements.set(result.elements);
          this.summary.set(result.summary);
        }
      });
    this.stats.start(STATS_INTERVAL_MS);
  }
}
