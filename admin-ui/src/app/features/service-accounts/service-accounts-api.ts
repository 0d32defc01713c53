import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, map } from 'rxjs';
import { Page, toPage } from '../../core/api/page';
import { AppConfig } from '../../core/config/app-config';

export type AccountStatus = 'active' | 'suspended';

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
  /** Сервер сам считает «скоро истекает» по своему порогу предупреждения. */
  secret_expiring_soon?: boolean;
  days_until_expiry?: number | null;
  secret_rotated_at?: string | null;
  last_used_at?: string | null;
  created_at?: string | null;
  updated_at?: string | null;
}

/** Ответ на создание: единственный раз, когда сервер отдаёт секрет открытым текстом. */
export interface CreatedAccount extends ServiceAccount {
  client_secret: string;
}

/** rotate-secret отвечает всем аккаунтом (AccountWithSecret) — нам из него нужны эти поля. */
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
  name?: string;
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
  account_id?: string;
  /** Только в ответе на создание: ключ HMAC подписи X-ArtStore-Signature. */
  secret?: string;
  created_at?: string | null;
  updated_at?: string | null;
}

export interface WebhookInput {
  url: string;
  events: string[];
  is_active: boolean;
}

/** Доставка (DeliveryOut): pending — ждёт очередной попытки, delivered и failed — итог. */
export interface WebhookDelivery {
  id: string;
  webhook_id?: string;
  event_id?: string;
  event_type: string;
  status: 'pending' | 'delivered' | 'failed' | string;
  attempts: number;
  attempt_log?: Record<string, unknown>[];
  next_attempt_at?: string | null;
  last_status_code?: number | null;
  last_error?: string | null;
  created_at: string;
  delivered_at?: string | null;
}

/**
 * Ровно те события, что принимает admin-module (EventType в webhooks/schemas.py): любое другое — 422.
 * file_expiring рассылает ежедневная задача хранения, restore_failed — неудачное восстановление из ar.
 */
export const WEBHOOK_EVENTS = [
  'file_uploaded',
  'file_deleted',
  'file_finalized',
  'file_transferred',
  'file_expiring',
  'file_expired',
  'file_restored',
  'restore_failed',
] as const;

export const WEBHOOK_EVENT_LABELS: Record<string, string> = {
  file_uploaded: 'файл загружен',
  file_deleted: 'файл удалён',
  file_finalized: 'файл финализирован',
  file_transferred: 'файл перенесён',
  file_expiring: 'срок хранения скоро истечёт',
  file_expired: 'срок хранения истёк',
  file_restored: 'файл восстановлен из архива',
  restore_failed: 'восстановление не удалось',
};

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
