import { HttpClient } from '@angular/common/http';
import { DestroyRef, Injectable, computed, inject, signal } from '@angular/core';
import { Router } from '@angular/router';
import { Observable, finalize, map, shareReplay, switchMap, tap, throwError } from 'rxjs';
import { AppConfig } from '../config/app-config';

export interface TokenPair {
  access_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in: number;
}

export interface AdminMe {
  id: string | number;
  username: string;
  role: string;
  totp_enabled: boolean;
  password_expires_at?: string | null;
  [extra: string]: unknown;
}

interface StoredTokens {
  accessToken: string;
  refreshToken: string | null;
  expiresAt: number;
}

const STORAGE_KEY = 'artstore.admin-ui.session';
// Обновляем заранее: запрос, ушедший за секунду до истечения, не должен получить 401.
const REFRESH_AHEAD_MS = 60_000;
const MIN_REFRESH_DELAY_MS = 5_000;

/**
 * Сессия администратора: токены, текущий пользователь и их обновление.
 * Токены лежат в sessionStorage: переживают перезагрузку вкладки,
 * но не остаются на машине после её закрытия.
 */
@Injectable({ providedIn: 'root' })
export class Session {
  private readonly http = inject(HttpClient);
  private readonly config = inject(AppConfig);
  private readonly router = inject(Router);

  private readonly tokens = signal<StoredTokens | null>(readStorage());
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshInFlight: Observable<string> | null = null;

  readonly user = signal<AdminMe | null>(null);
  readonly isAuthenticated = computed(() => this.tokens() !== null);

  constructor() {
    inject(DestroyRef).onDestroy(() => clearTimeout(this.refreshTimer));
    if (this.tokens()) {
      this.scheduleRefresh();
    }
  }

  accessToken(): string | null {
    return this.tokens()?.accessToken ?? null;
  }

  canRefresh(): boolean {
    return !!this.tokens()?.refreshToken;
  }

  login(username: string, password: string, totpCode?: string): Observable<AdminMe> {
    const body: Record<string, string> = { username, password };
    if (totpCode) {
      body['totp_code'] = totpCode;
    }
    return this.http.post<TokenPair>(this.url('login'), body).pipe(
      tap((pair) => this.store(pair)),
      switchMap(() => this.loadMe()),
    );
  }

  loadMe(): Observable<AdminMe> {
    return this.http.get<AdminMe>(this.url('me')).pipe(tap((me) => this.user.set(me)));
  }

  changePassword(currentPassword: string, newPassword: string): Observable<unknown> {
    return this.http.post(this.url('change-password'), {
      current_password: currentPassword,
      new_password: newPassword,
    });
  }

  /** Один запрос refresh на всех: параллельные 401 ждут его же, а не шлют по своему. */
  refresh(): Observable<string> {
    const refreshToken = this.tokens()?.refreshToken;
    if (!refreshToken) {
      return throwError(() => new Error('Нет refresh-токена'));
    }
    if (!this.refreshInFlight) {
      this.refreshInFlight = this.http
        .post<TokenPair>(this.url('refresh'), { refresh_token: refreshToken })
        .pipe(
          tap((pair) => this.store(pair)),
          map((pair) => pair.access_token),
          finalize(() => (this.refreshInFlight = null)),
          shareReplay(1),
        );
    }
    return this.refreshInFlight;
  }

  logout(reason?: 'expired'): void {
    clearTimeout(this.refreshTimer);
    this.tokens.set(null);
    this.user.set(null);
    sessionStorage.removeItem(STORAGE_KEY);
    void this.router.navigate(['/login'], reason ? { queryParams: { reason } } : {});
  }

  /** Адрес эндпоинта входа/обновления: их интерсептор пропускает без Bearer. */
  isAuthEndpoint(url: string): boolean {
    return url === this.url('login') || url === this.url('refresh');
  }

  private url(action: 'login' | 'refresh' | 'me' | 'change-password'): string {
    return `${this.config.adminUrl}/api/v1/admin-auth/${action}`;
  }

  private store(pair: TokenPair): void {
    const next: StoredTokens = {
      accessToken: pair.access_token,
      // Сервер может не менять refresh-токен при обновлении — тогда храним прежний.
      refreshToken: pair.refresh_token ?? this.tokens()?.refreshToken ?? null,
      expiresAt: Date.now() + (pair.expires_in || 0) * 1000,
    };
    this.tokens.set(next);
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    this.scheduleRefresh();
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    const current = this.tokens();
    if (!current?.refreshToken) {
      return;
    }
    const delay = Math.max(MIN_REFRESH_DELAY_MS, current.expiresAt - Date.now() - REFRESH_AHEAD_MS);
    this.refreshTimer = setTimeout(() => {
      this.refresh().subscribe({ error: () => this.logout('expired') });
    }, delay);
  }
}

function readStorage(): StoredTokens | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    const parsed = raw ? (JSON.parse(raw) as StoredTokens) : null;
    return parsed?.accessToken ? parsed : null;
  } catch {
    return null;
  }
}
