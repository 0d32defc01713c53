/** Страница списка в формате admin-module: {items, total, limit, offset}. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** Принимает и страницу, и голый массив: маршрут может отвечать и так, и так, экран от этого не зависит. */
export function toPage<T>(raw: Page<T> | T[] | null | undefined): Page<T> {
  if (Array.isArray(raw)) {
    return { items: raw, total: raw.length, limit: raw.length, offset: 0 };
  }
  const items = raw?.items ?? [];
  return { items, total: raw?.total ?? items.length, limit: raw?.limit ?? items.length, offset: raw?.offset ?? 0 };
}
