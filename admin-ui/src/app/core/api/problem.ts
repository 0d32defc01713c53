import { HttpErrorResponse } from '@angular/common/http';

/** Ошибка по RFC 9457 (application/problem+json), как её отдают все сервисы ArtStore. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  [extra: string]: unknown;
}

/** Достаёт problem+json из любой ошибки; для сетевых сбоев собирает свой, чтобы UI было что показать. */
export function toProblem(err: unknown): Problem {
  if (err instanceof HttpErrorResponse) {
    const body = parseBody(err.error);
    if (body) {
      return { status: err.status, ...body };
    }
    if (err.status === 0) {
      return { status: 0, code: 'network_error', detail: 'Сервис недоступен: нет соединения' };
    }
    return { status: err.status, title: err.statusText, detail: statusText(err.status) };
  }
  if (err instanceof Error) {
    return { detail: err.message };
  }
  return { detail: String(err ?? 'Неизвестная ошибка') };
}

/** Человекочитаемое сообщение: detail, затем title, затем текст по коду статуса. */
export function problemMessage(err: unknown): string {
  const p = toProblem(err);
  return p.detail || p.title || statusText(p.status) || 'Неизвестная ошибка';
}

export function problemCode(err: unknown): string | undefined {
  return toProblem(err).code;
}

/**
 * Ответы в виде Blob (скачивание) приходят с телом ошибки тоже в Blob:
 * его надо прочитать отдельно, иначе detail потеряется.
 */
export async function problemFromBlobError(err: unknown): Promise<Problem> {
  if (err instanceof HttpErrorResponse && err.error instanceof Blob) {
    try {
      const text = await err.error.text();
      const body = parseBody(text);
      if (body) {
        return { status: err.status, ...body };
      }
    } catch {
      // тело не читается — ниже вернём то, что знаем из статуса
    }
    return { status: err.status, detail: statusText(err.status) };
  }
  return toProblem(err);
}

function parseBody(raw: unknown): Problem | null {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return null;
    }
  }
  if (!value || typeof value !== 'object') {
    return null;
  }
  const obj = value as Record<string, unknown>;
  // FastAPI без нашего обработчика отвечает {detail: "..."} или {detail: [...]} (422)
  if (Array.isArray(obj['detail'])) {
    const msgs = (obj['detail'] as { msg?: string; loc?: unknown[] }[]).map((d) =>
      [Array.isArray(d.loc) ? d.loc.join('.') : '', d.msg].filter(Boolean).join(': '),
    );
    return { ...obj, detail: msgs.join('; ') };
  }
  if ('detail' in obj || 'title' in obj || 'code' in obj) {
    return obj as Problem;
  }
  // OAuth-ошибки токен-эндпоинта: {error, error_description}
  if (typeof obj['error'] === 'string') {
    return { code: obj['error'] as string, detail: (obj['error_description'] as string) || (obj['error'] as string) };
  }
  return null;
}

function statusText(status: number | undefined): string {
  switch (status) {
    case undefined:
      return '';
    case 0:
      return 'Сервис недоступен: нет соединения';
    case 400:
      return 'Некорректный запрос';
    case 401:
      return 'Требуется вход';
    case 403:
      return 'Недостаточно прав';
    case 404:
      return 'Не найдено';
    case 409:
      return 'Конфликт: операция недопустима в текущем состоянии';
    case 413:
      return 'Слишком большой объём данных';
    case 422:
      return 'Некорректные данные';
    case 429:
      return 'Слишком много запросов, повторите позже';
    case 507:
      return 'Недостаточно места в хранилище';
    default:
      return status >= 500 ? `Ошибка сервера (${status})` : `Ошибка ${status}`;
  }
}
