import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, map } from 'rxjs';
import { Page, toPage } from '../../core/api/page';
import { AppConfig } from '../../core/config/app-config';

export type AccountStatus = 'active' | 'suspended' | 'expired' | string;

export interface ServiceAccount {
  id: string;
  name: string;
  description?: string | null;
  client_id: string;
  role: string;
  status: AccountStatus;
  rate_limit?: number | null;
  is_system?: boolean;
  secret_expires_at?: string | null;
  last_used_at?: string | null;
  created_at?: string | null;
  [extra: string]: unknown;
}

/** Ответ на создание: единственный раз, когда сервер отдаёт секрет открытым текстом. */
export interface CreatedAccount extends ServiceAccount {
  client_secret: string;
}

export interface RotatedSecret {
  client_id: string;
  client_secret: string;
  secret_expires_at?: string | null;
}

export interface AccountCreate {
  name: string;
  description?: string;
  role: string;
  rate_limit?: number;
}

export interface AccountPatch {
  description?: string;
  role?: string;
  status?: AccountStatus;
  rate_limit?: number;
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  is_active: boolean;
  secret?: string;
  created_at?: string | null;
  [extra: string]: unknown;
}

export interface WebhookInput {
  url: string;
  events: string[];
  is_active: boolean;
}

export interface WebhookDelivery {
  id: string;
  event?: string;
  status?: string;
  response_status?: number | null;
  attempts?: number;
  error?: string | null;
  created_at?: string | null;
  delivered_at?: string | null;
  [extra: string]: unknown;
}

/** События, на которые можно подписать вебхук; file_expiring рассылает ежедневная задача хранения. */
export const WEBHOOK_EVENTS = [
  'file_uploaded',
  'file_deleted',
  'file_finalized',
  'file_transferred',
  'file_expiring',
  'storage_element_mode_changed',
  'storage_element_status_changed',
];

@Injectable({ providedIn: 'root' })
export class ServiceAccountsApi {
  private readonly http = inject(HttpClient);
  private readonly config = inject(AppConfig);

  private get base(): string {
    return `${this.config.adminUrl}/api/v1/service-accounts`;
  }

  list(limit: number, offset: number): Observable<Page<ServiceAccount>> {
    return this.http
      .get<Page<ServiceAccount> | ServiceAccount[]>(this.base, { params: { limit, offset } })
      .pipe(map((raw) => toPage(raw)));
  }

  get(id: string): Observable<ServiceAccount> {
    return this.http.get<ServiceAccount>(`${this.base}/${id}`);
  }

  create(body: AccountCreate): Observable<CreatedAccount> {
    return this.http.post<CreatedAccount>(this.base, body);
  }

  update(id: string, patch: AccountPatch): Observable<ServiceAccount> {
    return this.http.patch<ServiceAccount>(`${this.base}/${id}`, patch);
  }

  remove(id: string): Observable<unknown> {
    return this.http.delete(`${this.base}/${id}`);
  }

  rotateSecret(id: string): Observable<RotatedSecret> {
    return this.http.post<RotatedSecret>(`${this.base}/${id}/rotate-secret`, {});
  }

  webhooks(accountId: string): Observable<Webhook[]> {
    return this.http
      .get<Page<Webhook> | Webhook[]>(`${this.base}/${accountId}/webhooks`)
      .pipe(map((raw) => toPage(raw).items));
  }

  createWebhook(accountId: string, body: WebhookInput): Observable<Webhook> {
    return this.http.post<Webhook>(`${this.base}/${accountId}/webhooks`, body);
  }

  updateWebhook(accountId: string, webhookId: string, patch: Partial<WebhookInput>): Observable<Webhook> {
    return this.http.patch<Webhook>(`${this.base}/${accountId}/webhooks/${webhookId}`, patch);
  }

  deleteWebhook(accountId: string, webhookId: string): Observable<unknown> {
    return this.http.delete(`${this.base}/${accountId}/webhooks/${webhookId}`);
  }

  deliveries(accountId: string, webhookId: string, limit: number, offset: number): Observable<Page<WebhookDelivery>> {
    return this.http
      .get<Page<WebhookDelivery> | WebhookDelivery[]>(`${this.base}/${accountId}/webhooks/${webhookId}/deliveries`, {
        params: { limit, offset },
      })
      .pipe(map((raw) => toPage(raw)));
  }
}
