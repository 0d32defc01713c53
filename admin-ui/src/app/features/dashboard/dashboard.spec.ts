import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';
import { Dashboard, computeTotals } from './dashboard';
import { StorageElement } from '../storage-elements/storage-elements-api';

const ELEMENTS: StorageElement[] = [
  { id: 'se-1', name: 'se-edit', api_url: 'u1', mode: 'edit', status: 'online', capacity_bytes: 1000, used_bytes: 250, file_count: 4, priority: 100 },
  { id: 'se-2', name: 'se-rw', api_url: 'u2', mode: 'rw', status: 'offline', capacity_bytes: 3000, used_bytes: 750, file_count: 6, priority: 100 },
];

describe('computeTotals', () => {
  it('досчитывает по списку то, чего нет в сводке', () => {
    expect(computeTotals(null, ELEMENTS)).toEqual({ elements: 2, online: 1, capacity: 4000, used: 1000, files: 10, free: 3000, expiringSoon: null });
  });
  it('предпочитает значения сводки', () => {
    const t = computeTotals({ total_files: 99, expiring_soon: 3, online_elements: 2 }, ELEMENTS);
    expect(t.files).toBe(99);
    expect(t.expiringSoon).toBe(3);
    expect(t.online).toBe(2);
  });
});

describe('Dashboard', () => {
  it('показывает сводку, элементы и опрашивает счётчики', async () => {
    vi.useFakeTimers();
    try {
      TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])] });
      const http = TestBed.inject(HttpTestingController);
      const fixture = TestBed.createComponent(Dashboard);
      fixture.detectChanges();
      vi.advanceTimersByTime(0);
      http.expectOne((r) => r.url === 'http://localhost:8000/api/v1/storage-elements').flush({ items: ELEMENTS, total: 2, limit: 500, offset: 0 });
      http.expectOne('http://localhost:8000/api/v1/storage-elements/stats/summary').flush({ expiring_soon: 5 });
      http.expectOne('http://localhost:8020/api/v1/stats').flush({ uploads_total: 1, upload_bytes_total: 100 });
      http.expectOne('http://localhost:8030/api/v1/stats').flush({ downloads_total: 0, download_bytes_total: 0 });
      fixture.detectChanges();
      const el = fixture.nativeElement as HTMLElement;
      expect(el.querySelector('[data-testid=expiring-soon]')?.textContent).toContain('5');
      expect(el.querySelectorAll('[data-testid=dashboard-elements] mat-card').length).toBe(2);
      expect(el.textContent).toContain('se-rw');

      vi.advanceTimersByTime(5000);
      http.expectOne('http://localhost:8020/api/v1/stats').flush({ uploads_total: 2, upload_bytes_total: 5220 });
      http.expectOne('http://localhost:8030/api/v1/stats').flush({ downloads_total: 0, download_bytes_total: 0 });
      fixture.detectChanges();
      expect(el.textContent).toContain('1,0 КиБ/с');
      // Сводка настоящего admin-module без expiring_soon — вместо «Скоро истекают» свободное место
      fixture.componentInstance['summary'].set({ total_elements: 2, free_bytes: 2048 });
      fixture.detectChanges();
      expect(el.querySelector('[data-testid=expiring-soon]')).toBeNull();
      expect(el.querySelector('[data-testid=free-bytes]')?.textContent).toContain('2,0 КиБ');
      fixture.destroy();
      http.verify();
    } finally {
      vi.useRealTimers();
    }
  });
});
