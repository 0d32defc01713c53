import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, map } from 'rxjs';
import { Page, toPage } from '../../core/api/page';
import { AppConfig } from '../../core/config/app-config';

export interface AdminUser {
  id: string | number;
  username: string;
  email?: string | null;
  role: string;
  is_active?: boolean;
  totp_enabled?: boolean;
  password_expires_at?: string | null;
  last_login_at?: string | null;
  created_at?: string | null;
  [extra: string]: unknown;
}

export interface AdminUserCreate {
  username: string;
  password: string;
  role: string;
  email?: string;
}

export interface AdminUserPatch {
  role?: string;
  is_active?: boolean;
  email?: string;
  password?: string;
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
