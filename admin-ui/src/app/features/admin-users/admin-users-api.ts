import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, map } from 'rxjs';
import { Page, toPage } from '../../core/api/page';
import { AppConfig } from '../../core/config/app-config';

/** Пользователь панели (AdminUserOut admin-module). E-mail сервер не хранит. */
export interface AdminUser {
  id: string;
  username: string;
  role: string;
  is_active: boolean;
  is_system?: boolean;
  totp_enabled: boolean;
  failed_attempts?: number;
  /** Вход заблокирован до этого момента после серии неудачных попыток. */
  locked_until?: string | null;
  password_changed_at?: string | null;
  password_expires_at?: string | null;
  must_change_password?: boolean;
  last_login_at?: string | null;
  created_at?: string | null;
  updated_at?: string | null;
}

export interface AdminUserCreate {
  username: string;
  password: string;
  role: string;
  is_active?: boolean;
}

/** totp_enabled принимает только false (сброс), unlock — только true (снять блокировку). */
export interface AdminUserPatch {
  role?: string;
  is_active?: boolean;
  password?: string;
  totp_enabled?: false;
  unlock?: true;
}

/** Заблокирован ли вход сейчас (locked_until в будущем). */
export function isLocked(user: Pick<AdminUser, 'locked_until'>, now = Date.now()): boolean {
  return !!user.locked_until && new Date(user.locked_until).getTime() > now;
}

@Injectable({ providedIn: 'root' })
export class AdminUsersApi {
  private readonly http = inject(HttpClient);
  private readonly config = inject(AppConfig);

  private get base(): string {
    return `${this.config.adminUrl}/api/v1/admin-users`;
  }

  list(limit: number, offset: number): Observable<Page<AdminUser>> {
    return this.http
      .get<Page<AdminUser> | AdminUser[]>(this.base, { params: { limit, offset } })
      .pipe(map((raw) => toPage(raw)));
  }

  create(body: AdminUserCreate): Observable<AdminUser> {
    return this.http.post<AdminUser>(this.base, body);
  }

  update(id: AdminUser['id'], patch: AdminUserPatch): Observable<AdminUser> {
    return this.http.patch<AdminUser>(`${this.base}/${id}`, patch);
  }

  remove(id: AdminUser['id']): Observable<unknown> {
    return this.http.delete(`${this.base}/${id}`);
  }
}
