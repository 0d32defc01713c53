import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, map } from 'rxjs';
import { AppConfig } from '../../core/config/app-config';

export interface AuditEntry {
  id: string | number;
  timestamp?: string;
  created_at?: string;
  actor?: string;
  actor_type?: string;
  action: string;
  outcome?: string;
  resource_type?: string | null;
  resource_id?: string | null;
  ip_address?: string | null;
  details?: unknown;
  [extra: string]: unknown;
}

export interface AuditFilter {
  action?: string;
  actor?: string;
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
