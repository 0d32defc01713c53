import { RussianPaginatorIntl } from './russian-paginator-intl';

describe('RussianPaginatorIntl', () => {
  it('пишет диапазон по-русски', () => {
    const intl = new RussianPaginatorIntl();
    expect(intl.getRangeLabel(0, 25, 60)).toBe('1–25 из 60');
    expect(intl.getRangeLabel(2, 25, 60)).toBe('51–60 из 60');
    expect(intl.getRangeLabel(0, 25, 0)).toBe('0 из 0');
    expect(intl.itemsPerPageLabel).toBe('На странице:');
  });
});
