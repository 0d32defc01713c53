import { Bytes, formatBytes } from './bytes';

describe('formatBytes', () => {
  it('форматирует в двоичных единицах', () => {
    expect(formatBytes(0)).toBe('0 Б');
    expect(formatBytes(1023)).toBe('1023 Б');
    expect(formatBytes(1536)).toBe('1,5 КиБ');
    expect(formatBytes(8 * 1024 * 1024)).toBe('8,0 МиБ');
    expect(formatBytes(5 * 1024 ** 4, 2)).toBe('5,00 ТиБ');
  });
  it('пустые значения — прочерк', () => {
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(Number.NaN)).toBe('—');
    expect(new Bytes().transform(undefined)).toBe('—');
  });
});
