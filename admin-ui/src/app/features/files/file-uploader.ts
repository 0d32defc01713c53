import { HttpClient, HttpEventType } from '@angular/common/http';
import { Injectable, InjectionToken, inject } from '@angular/core';
import { Observable, filter, map } from 'rxjs';
import type { DetailedError, HttpRequest as TusRequest, HttpResponse as TusResponse, Upload } from 'tus-js-client';
import { Session } from '../../core/auth/session';
import { AppConfig } from '../../core/config/app-config';
import { RetentionPolicy } from './files-api';

/** Файлы больше этого размера идут через tus: обрыв связи на гигабайте не должен начинать всё заново. */
export const RESUMABLE_THRESHOLD = 8 * 1024 * 1024;
// Куски по 16 МиБ: укладываются в типичный client_max_body_size прокси и дают частые точки возобновления.
const TUS_CHUNK_SIZE = 16 * 1024 * 1024;

export interface UploadOptions {
  description?: string;
  retention_policy: RetentionPolicy;
  ttl_days?: number | null;
  tags?: string[];
}

export interface UploadResult {
  file_id: string;
  original_filename?: string;
  storage_filename?: string;
  file_size?: number;
  checksum?: string;
  uploaded_at?: string;
  storage_element_id?: string;
  retention_policy?: RetentionPolicy;
  expires_at?: string | null;
}

export type UploadEvent =
  | { kind: 'progress'; loaded: number; total: number }
  | { kind: 'done'; result: UploadResult | null };

type TusModule = { Upload: typeof Upload };

/** GET /api/v1/uploads/{id} ingester: после завершения в file — тот же ответ, что у multipart-загрузки. */
interface TusStatus {
  upload_id: string;
  offset: number;
  length: number;
  completed: boolean;
  file: UploadResult | null;
}

function lastSegment(url: string | null): string | null {
  if (!url) {
    return null;
  }
  const path = url.split(/[?#]/)[0].replace(/\/+$/, '');
  const id = path.slice(path.lastIndexOf('/') + 1);
  return id ? decodeURIComponent(id) : null;
}

/** Загрузчик tus подгружается лениво: большинство сессий им не пользуются, а в тестах он подменяется. */
export const TUS_LOADER = new InjectionToken<() => Promise<TusModule>>('TUS_LOADER', {
  providedIn: 'root',
  factory: () => () => import('tus-js-client'),
});

@Injectable({ providedIn: 'root' })
export class FileUploader {
  private readonly http = inject(HttpClient);
  private readonly config = inject(AppConfig);
  private readonly session = inject(Session);
  private readonly loadTus = inject(TUS_LOADER);

  upload(file: File, options: UploadOptions): Observable<UploadEvent> {
    return file.size > RESUMABLE_THRESHOLD ? this.resumable(file, options) : this.multipart(file, options);
  }

  multipart(file: File, options: UploadOptions): Observable<UploadEvent> {
    const form = new FormData();
    form.append('file', file, file.name);
    form.append('retention_policy', options.retention_policy);
    if (options.description?.trim()) {
      form.append('description', options.description.trim());
    }
    if (options.retention_policy === 'temporary' && options.ttl_days) {
      form.append('ttl_days', String(options.ttl_days));
    }
    if (options.tags?.length) {
      form.append('tags', options.tags.join(','));
    }
    return this.http
      .post<UploadResult>(`${this.config.ingesterUrl}/api/v1/files/upload`, form, {
        reportProgress: true,
        observe: 'events',
      })
      .pipe(
        filter((e) => e.type === HttpEventType.UploadProgress || e.type === HttpEventType.Response),
        map((e): UploadEvent => {
          if (e.type === HttpEventType.UploadProgress) {
            return { kind: 'progress', loaded: e.loaded, total: e.total ?? file.size };
          }
          return { kind: 'done', result: e.type === HttpEventType.Response ? e.body : null };
        }),
      );
  }

  resumable(file: File, options: UploadOptions): Observable<UploadEvent> {
    return new Observable<UploadEvent>((subscriber) => {
      let upload: Upload | undefined;
      let cancelled = false;
      let fileId: string | null = null;

      const metadata: Record<string, string> = {
        filename: file.name,
        filetype: file.type || 'application/octet-stream',
        retention_policy: options.retention_policy,
      };
      if (options.description?.trim()) {
        metadata['description'] = options.description.trim();
      }
      if (options.retention_policy === 'temporary' && options.ttl_days) {
        metadata['ttl_days'] = String(options.ttl_days);
      }
      if (options.tags?.length) {
        metadata['tags'] = options.tags.join(',');
      }

      this.loadTus()
        .then(({ Upload: TusUpload }) => {
          if (cancelled) {
            return;
          }
          const current = new TusUpload(file, {
            endpoint: `${this.config.ingesterUrl}/api/v1/uploads`,
            chunkSize: TUS_CHUNK_SIZE,
            retryDelays: [0, 1000, 3000, 5000, 10000],
            metadata,
            storeFingerprintForResuming: true,
            removeFingerprintOnSuccess: true,
            // Токен берём перед каждым запросом: загрузка может пережить его обновление.
            onBeforeRequest: (req: TusRequest) => {
              const token = this.session.accessToken();
              if (token) {
                req.setHeader('Authorization', `Bearer ${token}`);
              }
            },
            onAfterResponse: (_req: TusRequest, res: TusResponse) => {
              fileId = res.getHeader('X-File-Id') ?? res.getHeader('Upload-File-Id') ?? fileId;
            },
            onProgress: (loaded: number, total: number) => subscriber.next({ kind: 'progress', loaded, total }),
            onSuccess: () => {
              // X-File-Id в ответах tus ingester может и не прислать, а id загрузки у него и есть file_id: тогда
              // берём его из адреса загрузки. Полные данные файла (checksum, элемент, срок) — из GET /uploads/{id}.
              const id = fileId ?? lastSegment(current.url);
              const minimal: UploadResult | null = id
                ? { file_id: id, original_filename: file.name, file_size: file.size }
                : null;
              if (!id) {
                subscriber.next({ kind: 'done', result: null });
                subscriber.complete();
                return;
              }
              this.http
                .get<TusStatus>(`${this.config.ingesterUrl}/api/v1/uploads/${encodeURIComponent(id)}`)
                .subscribe({
                  next: (status) => {
                    subscriber.next({ kind: 'done', result: status.file ?? minimal });
                    subscriber.complete();
                  },
                  error: () => {
                    subscriber.next({ kind: 'done', result: minimal });
                    subscriber.complete();
                  },
                });
            },
            onError: (err: Error | DetailedError) => subscriber.error(tusError(err)),
          });
          upload = current;
          // Тот же файл уже начинали грузить — продолжаем с места обрыва.
          return current.findPreviousUploads().then((previous) => {
            if (cancelled) {
              return;
            }
            if (previous.length) {
              current.resumeFromPreviousUpload(previous[0]);
            }
            current.start();
          });
        })
        .catch((err: unknown) => subscriber.error(err));

      return () => {
        cancelled = true;
        void upload?.abort();
      };
    });
  }
}

/** Ошибка tus несёт исходный ответ сервера; достаём из него problem+json, чтобы показать detail. */
export function tusError(err: Error | DetailedError): Error & { status?: number; code?: string } {
  const response = (err as DetailedError).originalResponse;
  if (!response) {
    return new Error('Сервер не ответил, загрузка прервана. Повторите — она продолжится с места обрыва.');
  }
  const status = response.getStatus();
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(response.getBody());
    body = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    // тело не JSON — останется текст по статусу
  }
  const text = (key: string) => (typeof body[key] === 'string' ? (body[key] as string) : undefined);
  const detail = text('detail') ?? text('title') ?? `Сервер ответил ${status}`;
  return Object.assign(new Error(detail), { status, code: text('code') });
}
