import { HttpClient, HttpErrorResponse } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, catchError, concatMap, from, last, map, of, switchMap, take, takeWhile, throwError, timer } from 'rxjs';
import { problemFromBlobError } from '../../core/api/problem';
import { AppConfig } from '../../core/config/app-config';

export type SearchMode = 'fulltext' | 'partial' | 'exact';
export type SortOrder = 'asc' | 'desc';
/** Что умеет сортировать query-module (SortBy); relevance — по умолчанию, по рангу полнотекстового поиска. */
export type SortBy = 'relevance' | 'name' | 'file_size' | 'created_at';
export type RetentionPolicy = 'temporary' | 'permanent';

export interface SearchRequest {
  query?: string;
  filename?: string;
  tags?: string[];
  username?: string;
  content_type?: string;
  min_size?: number;
  max_size?: number;
  created_after?: string;
  created_before?: string;
  mode: SearchMode;
  limit: number;
  offset: number;
  sort_by?: SortBy;
  sort_order?: SortOrder;
}

/** Запись о файле — поля attr.json (docs/architecture.md §3.2) и то, что добавит поиск (rank). */
export interface FileRecord {
  file_id: string;
  original_filename: string;
  storage_filename?: string;
  storage_path?: string;
  file_size: number;
  content_type?: string;
  checksum?: string;
  created_at?: string;
  updated_at?: string;
  created_by_id?: string;
  created_by_username?: string;
  description?: string | null;
  tags?: string[];
  metadata?: Record<string, unknown> | null;
  retention_policy?: RetentionPolicy;
  expires_at?: string | null;
  compression?: unknown;
  storage_element_id?: string;
  [extra: string]: unknown;
}

export interface SearchResponse {
  results: FileRecord[];
  total_count: number;
  limit: number;
  offset: number;
  has_more: boolean;
  partial: boolean;
  unavailable_storage_elements: string[];
}

export interface Suggestion {
  text: string;
  kind: string;
}

/** Сага переноса ingester (finalize и transfer): 202 сразу, дальше состояние — GET /transactions/{id}. */
export interface Transaction {
  id: string;
  kind: 'finalize' | 'transfer' | string;
  file_id: string;
  source: string;
  target: string;
  state: 'pending' | 'done' | 'compensated' | 'failed' | string;
  step?: string;
  error?: string | null;
  attempts?: number;
  created_at?: string;
  updated_at?: string;
}

/** Итоговые состояния саги: дальше она не изменится. */
export const TERMINAL_STATES = ['done', 'compensated', 'failed'];
const TX_POLL_MS = 1000;
const TX_POLL_LIMIT = 180;

/** Временная ссылка query-module (docs/links.md): работает без токена до expires_at. */
export interface FileLink {
  id: string;
  token: string;
  path: string;
  url: string;
  expires_at: string;
  max_downloads: number | null;
}

/** Срок ссылки для скачивания из UI: браузер успеет и скачать, и докачать после обрыва. */
export const DOWNLOAD_LINK_TTL = 3600;

/** Чтение (query-module) и изменение (ingester-module) файлов. */
@Injectable({ providedIn: 'root' })
export class FilesApi {
  private readonly http = inject(HttpClient);
  private readonly config = inject(AppConfig);

  private get query(): string {
    return `${this.config.queryUrl}/api/v1`;
  }
  private get ingester(): string {
    return `${this.config.ingesterUrl}/api/v1`;
  }

  search(request: SearchRequest): Observable<SearchResponse> {
    return this.http.post<SearchResponse>(`${this.query}/search`, compact(request)).pipe(
      map((r) => ({
        ...r,
        results: r.results ?? [],
        total_count: r.total_count ?? r.results?.length ?? 0,
        unavailable_storage_elements: r.unavailable_storage_elements ?? [],
      })),
    );
  }

  suggest(prefix: string): Observable<Suggestion[]> {
    return this.http
      .get<{ suggestions: Suggestion[] }>(`${this.query}/search/suggest`, { params: { prefix } })
      .pipe(map((r) => r.suggestions ?? []));
  }

  metadata(fileId: string): Observable<FileRecord> {
    return this.http.get<FileRecord>(`${this.query}/files/${encodeURIComponent(fileId)}`);
  }

  /**
   * Адрес для нативного скачивания браузером (docs/links.md): поток на диск, своя полоса и докачка
   * браузера, тело файла не держится в памяти вкладки. Сначала — один байт с токеном: архив (409), нет
   * файла (404), недоступный элемент (503) видны здесь текстом problem+json, а не страницей ошибки в
   * браузере. Потом — ссылка на один раз (max_downloads=1: докачка остатка лимит не тратит).
   */
  downloadUrl(fileId: string): Observable<string> {
    const id = encodeURIComponent(fileId);
    return this.http
      .get(`${this.query}/files/${id}/download`, { responseType: 'blob', headers: { Range: 'bytes=0-0' } })
      .pipe(
        // 416 — пустой файл: первого байта нет, а скачать его можно
        catchError((err: unknown) => (err instanceof HttpErrorResponse && err.status === 416 ? of(null) : blobProblem(err))),
        switchMap(() =>
          this.http.post<FileLink>(`${this.query}/files/${id}/links`, { expires_in: DOWNLOAD_LINK_TTL, max_downloads: 1 }),
        ),
        // path, а не url: за nginx admin-ui query виден по своему адресу (config.queryUrl), не по адресу запроса
        map((link) => `${this.config.queryUrl}${link.path}`),
      );
  }

  restore(fileId: string): Observable<Record<string, unknown>> {
    return this.http.post<Record<string, unknown>>(`${this.query}/files/${encodeURIComponent(fileId)}/restore`, {});
  }

  remove(fileId: string): Observable<unknown> {
    return this.http.delete(`${this.ingester}/files/${encodeURIComponent(fileId)}`);
  }

  finalize(fileId: string): Observable<Transaction> {
    return this.http.post<Transaction>(`${this.ingester}/finalize/${encodeURIComponent(fileId)}`, {});
  }

  transfer(fileId: string, targetStorageElementId: string): Observable<Transaction> {
    return this.http.post<Transaction>(`${this.ingester}/files/${encodeURIComponent(fileId)}/transfer`, {
      target_storage_element_id: targetStorageElementId,
    });
  }

  transaction(id: string): Observable<Transaction> {
    return this.http.get<Transaction>(`${this.ingester}/transactions/${encodeURIComponent(id)}`);
  }

  /**
   * Ждёт итога саги опросом раз в секунду (не дольше трёх минут): иначе список файлов,
   * обновлённый сразу после 202, показал бы файл ещё на старом элементе.
   */
  awaitTransaction(tx: Transaction): Observable<Transaction> {
    if (TERMINAL_STATES.includes(tx.state)) {
      return of(tx);
    }
    return timer(TX_POLL_MS, TX_POLL_MS).pipe(
      take(TX_POLL_LIMIT),
      concatMap(() => this.transaction(tx.id)),
      takeWhile((current) => !TERMINAL_STATES.includes(current.state), true),
      last(),
    );
  }
}

/** Пустые фильтры не отправляем: сервер трактует присланное поле как условие. */
function compact(request: SearchRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(request)) {
    const empty =
      value === undefined || value === null || (typeof value === 'string' && value.trim() === '') ||
      (Array.isArray(value) && value.length === 0);
    if (!empty) {
      out[key] = typeof value === 'string' ? value.trim() : value;
    }
  }
  return out;
}

/** Тело ошибки при responseType blob — тоже Blob: переводим его в problem+json. */
function blobProblem(err: unknown): Observable<never> {
  return from(problemFromBlobError(err)).pipe(
    switchMap((problem) =>
      throwError(
        () =>
          new HttpErrorResponse({
            error: problem,
            status: problem.status ?? (err instanceof HttpErrorResponse ? err.status : 0),
            url: err instanceof HttpErrorResponse ? (err.url ?? undefined) : undefined,
          }),
      ),
    ),
  );
}
