import { toPage } from './page';

describe('toPage', () => {
  it('оставляет страницу как есть', () => {
    expect(toPage({ items: [1], total: 10, limit: 1, offset: 3 })).toEqual({ items: [1], total: 10, limit: 1, offset: 3 });
  });
  it('оборачивает массив', () => {
    expect(toPage([1, 2])).toEqual({ items: [1, 2], total: 2, limit: 2, offset: 0 });
  });
  it('пустой ответ — пустая страница', () => {
    expect(toPage(null)).toEqual({ items: [], total: 0, limit: 0, offset: 0 });
  });
});
