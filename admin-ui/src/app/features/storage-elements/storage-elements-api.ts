import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, map } from 'rxjs';
import { Page, toPage } from '../../core/api/page';
import { AppConfig } from '../../core/config/app-config';

export type StorageMode = 'edit' | 'rw' | 'ro' | 'ar';

/** Член реплицированного элемента (MemberOut): свой опрос и своё /info. lag и under_replicated — null, пока член не в сети. */
export interface ReplicationMember {
  id: string;
  api_url: string;
  status: 'online' | 'degraded' | 'offline' | string;
  mode?: StorageMode | null;
  lag_seconds?: number | null;
  under_replicated?: number | null;
  file_count?: number | null;
  free_bytes?: number | null;
  version?: string | null;
  last_seen_at?: string | null;
  last_error?: string | null;
}

/** Блок replication элемента из N членов (docs/replication.md); у автономного элемента его нет. */
export interface Replication {
  mode: 'sync' | 'async' | string | null;
  quorum?: number | null;
  interval_s?: number | null;
  /** Файлы без полного числа копий: наибольшее среди членов в сети (один файл видят все, у кого он есть). */
  under_replicated?: number | null;
  members: ReplicationMember[];
}

/**
 * Элемент реестра (ElementOut admin-module). id — тот же идентификатор, что элемент сообщает в /info
 * и что лежит в storage_element_id файла. Пока элемент не ответил ни разу, mode и ёмкость неизвестны.
 */
export interface StorageElement {
  id: string;
  name: string;
  api_url: string;
  mode: StorageMode | null;
  status: 'online' | 'degraded' | 'offline' | string;
  priority: number;
  storage_type?: string | null;
  capacity_bytes?: number | null;
  used_bytes?: number | null;
  free_bytes?: number | null;
  file_count?: number | null;
  retention_days?: number | null;
  version?: string | null;
  last_seen_at?: string | null;
  last_health_check?: string | null;
  /** Почему последний опрос не удался — показываем рядом со статусом. */
  last_error?: string | null;
  registered_at?: string;
  updated_at?: string;
  replication?: Replication | null;
}

/**
 * Сводка реестра (SummaryOut). expiring_soon — сумма по элементам; у старого сервера без этого поля
 * карточка «Скоро истекают» заменяется свободным местом. Остальные поля экран досчитывает по списку элементов.
 */
export interface StorageSummary {
  total_elements?: number;
  free_bytes?: number;
  online_elements?: number;
  total_capacity_bytes?: number;
  total_used_bytes?: number;
  total_files?: number;
  expiring_soon?: number;
  /** Реплицированных элементов и файлов без полного числа копий на них. */
  replicated?: number;
  under_replicated?: number;
  by_mode?: Record<string, number>;
  by_status?: Record<string, number>;
  [extra: string]: unknown;
}

export interface RegisterRequest {
  api_url: string;
  name?: string;
  priority?: number;
}

/** Ответ /discover — то, что элемент сообщает о себе в /api/v1/info. */
export type DiscoveredElement = Record<string, unknown>;

export const MODE_LABELS: Record<StorageMode, string> = {
  edit: 'edit — оперативное',
  rw: 'rw — наполняемый архив',
  ro: 'ro — только чтение',
  ar: 'ar — холодный архив',
};

/** Разрешённые через API переходы: rw → ro → ar. edit и выход из ar меняются только конфигурацией. */
export function nextMode(mode: StorageMode | null): StorageMode | null {
  return mode === 'rw' ? 'ro' : mode === 'ro' ? 'ar' : null;
}

export function usagePercent(el: Pick<StorageElement, 'capacity_bytes' | 'used_bytes'>): number | null {
  const cap = el.capacity_bytes ?? 0;
  return cap > 0 ? Math.min(100, ((el.used_bytes ?? 0) / cap) * 100) : null;
}

/** Отставание члена по-человечески: «0 с», «45 с», «12 мин», «3 ч 5 мин»; null — член не в сети. */
export function formatLag(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '—';
  }
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) {
    return `${s} с`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} мин`;
  }
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return m ? `${h} ч ${m} мин` : `${h} ч`;
}

/** «sync · кворум 2 из 3» — как элемент подтверждает запись. */
export function replicationLabel(r: Replication): string {
  const n = r.members.length;
  const mode = r.mode ?? '—';
  return r.quorum ? `${mode} · кворум ${r.quorum} из ${n}` : `${mode} · членов: ${n}`;
}

/** CSS-класс «чипа» статуса: зелёный — работает, жёлтый — с ограничениями, красный — недоступен. */
export function statusClass(status: string | null | undefined): string {
  switch ((status ?? '').toLowerCase()) {
    case 'online':
    case 'healthy':
    case 'ok':
      return 'ok';
    case 'degraded':
    case 'maintenance':
      return 'warn';
    case 'offline':
    case 'unavailable':
    case 'error':
      return 'bad';
    default:
      return '';
  }
}

@Injectable({ providedIn: 'root' })
export class StorageElementsApi {
  private readonly http = inject(HttpClient);
  private readonly config = inject(AppConfig);

  private get base(): string {
    return `${this.config.adminUrl}/api/v1/storage-elements`;
  }

  list(): Observable<StorageElement[]> {
    // Элементов единицы-десятки: берём все одной страницей, чтобы не листать реестр.
    return this.http
      .get<Page<StorageElement> | StorageElement[]>(this.base, { params: { limit: 500, offset: 0 } })
      .pipe(map((raw) => toPage(raw).items));
  }

  summary(): Observable<StorageSummary> {
    return this.http.get<StorageSummary>(`${this.base}/stats/summary`);
  }

  discover(apiUrl: string): Observable<DiscoveredElement> {
    return this.http.post<DiscoveredElement>(`${this.base}/discover`, { api_url: apiUrl });
  }

  register(body: RegisterRequest): Observable<StorageElement> {
    return this.http.post<StorageElement>(this.base, body);
  }

  remove(id: StorageElement['id']): Observable<unknown> {
    return this.http.delete(`${this.base}/${id}`);
  }

  sync(id: StorageElement['id']): Observable<StorageElement> {
    return this.http.post<StorageElement>(`${this.base}/${id}/sync`, {});
  }

  changeMode(id: StorageElement['id'], mode: StorageMode): Observable<unknown> {
    return this.http.post(`${this.base}/${id}/mode`, { mode });
  }

  cacheConsistency(id: StorageElement['id']): Observable<Record<string, unknown>> {
    return this.http.get<Record<string, unknown>>(`${this.base}/${id}/cache/consistency`);
  }

  cacheRebuild(id: StorageElement['id']): Observable<Record<string, unknown>> {
    return this.http.post<Record<string, unknown>>(`${this.base}/${id}/cache/rebuild`, {});
  }

  scrub(id: StorageElement['id']): Observable<Record<string, unknown>> {
    return this.http.post<Record<string, unknown>>(`${this.base}/${id}/scrub`, {});
  }
}
