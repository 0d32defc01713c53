import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, map } from 'rxjs';
import { AppConfig } from '../../core/config/app-config';

/** Запись журнала admin-module (AuditEntryOut): prev_hash/hash — звенья цепочки, которую проверяет /verify. */
export interface AuditEntry {
  id: number;
  occurred_at: string;
  actor_type: string;
  actor_id: string | null;
  actor_name: string | null;
  ip: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  outcome: 'success' | 'failure' | string;
  details: Record<string, unknown>;
  prev_hash?: string;
  hash?: string;
  /** id события потока, из которого запись (файловые операции других сервисов). */
  event_id?: string | null;
}

/** Сервер различает только success и failure (отказ в доступе — тоже failure). */
export const AUDIT_OUTCOMES = ['success', 'failure'] as const;

/** action понимает хвостовую звёздочку (auth.*), actor — id или имя; file_id — все операции с одним файлом
 *  (загрузка, удаление, перенос, восстановление — их пишут в журнал события ingester и элементов). */
export interface AuditFilter {
  action?: string;
  actor?: string;
  file_id?: string;
  outcome?: string;
}

export interface AuditPage {
  items: AuditEntry[];
  total: number;
}

/** Итог проверки цепочки хешей журнала: первая испорченная запись указывает, откуда журналу не верить. */
export interface AuditVerification {
  valid: boolean;
  checked: number;
  first_bad_id: string | number | null;
}

@Injectable({ providedIn: 'root' })
export class AuditApi {
  private readonly http = inject(HttpClient);
  private readonly config = inject(AppConfig);

  private get base(): string {
    return `${this.config.adminUrl}/api/v1/audit`;
  }

  list(filter: AuditFilter, limit: number, offset: number): Observable<AuditPage> {
    const params: Record<string, string | number> = { limit, offset };
    for (const [key, value] of Object.entries(filter)) {
      if (typeof value === 'string' && value.trim()) {
        params[key] = value.trim();
      }
    }
    return this.http
      .get<AuditPage>(this.base, { params })
      .pipe(map((r) => ({ items: r.items ?? [], total: r.total ?? r.items?.length ?? 0 })));
  }

  verify(): Observable<AuditVerification> {
    return this.http.get<AuditVerification>(`${this.base}/verify`);
  }
}
