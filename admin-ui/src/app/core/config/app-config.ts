import { HttpBackend, HttpClient } from '@angular/common/http';
import { Injectable, inject, signal } from '@angular/core';
import { firstValueFrom } from 'rxjs';

export interface RuntimeConfig {
  adminUrl: string;
  ingesterUrl: string;
  queryUrl: string;
}

export const DEFAULT_CONFIG: RuntimeConfig = {
  adminUrl: 'http://localhost:8000',
  ingesterUrl: 'http://localhost:8020',
  queryUrl: 'http://localhost:8030',
};

/**
 * Адреса сервисов, прочитанные из /config.json до старта приложения.
 * Один и тот же build работает и локально, и за nginx (/admin, /ingester, /query):
 * адреса меняются файлом, а не пересборкой.
 */
@Injectable({ providedIn: 'root' })
export class AppConfig {
  // HttpBackend в обход интерсепторов: авторизации ещё нет, а интерсептору самому нужен конфиг.
  private readonly http = new HttpClient(inject(HttpBackend));
  private readonly state = signal<RuntimeConfig>(DEFAULT_CONFIG);

  readonly current = this.state.asReadonly();

  get adminUrl(): string {
    return this.state().adminUrl;
  }
  get ingesterUrl(): string {
    return this.state().ingesterUrl;
  }
  get queryUrl(): string {
    return this.state().queryUrl;
  }

  async load(url = 'config.json'): Promise<void> {
    try {
      const raw = await firstValueFrom(this.http.get<Partial<RuntimeConfig>>(url));
      this.state.set(mergeConfig(raw));
    } catch (err) {
      // Без файла UI всё равно должен открыться: адреса по умолчанию годятся для разработки.
      console.warn('config.json не прочитан, используются адреса по умолчанию', err);
      this.state.set(DEFAULT_CONFIG);
    }
  }

  /** Запрос идёт к одному из наших сервисов (а не к стороннему адресу)? */
  isServiceUrl(url: string): boolean {
    const { adminUrl, ingesterUrl, queryUrl } = this.state();
    return [adminUrl, ingesterUrl, queryUrl].some((base) => url === base || url.startsWith(base + '/'));
  }
}

export function mergeConfig(raw: Partial<RuntimeConfig> | null | undefined): RuntimeConfig {
  const pick = (key: keyof RuntimeConfig): string => {
    const value = raw?.[key];
    return typeof value === 'string' && value.trim() ? trimSlash(value.trim()) : DEFAULT_CONFIG[key];
  };
  return { adminUrl: pick('adminUrl'), ingesterUrl: pick('ingesterUrl'), queryUrl: pick('queryUrl') };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
