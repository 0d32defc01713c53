import { filenameFromDisposition, saveBlob } from './save-blob';

describe('filenameFromDisposition', () => {
  it('предпочитает filename* с UTF-8', () => {
    const h = `attachment; filename="otchet.pdf"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf`;
    expect(filenameFromDisposition(h)).toBe('отчёт.pdf');
  });
  it('понимает обычный filename в кавычках и без', () => {
    expect(filenameFromDisposition('attachment; filename="a b.txt"')).toBe('a b.txt');
    expect(filenameFromDisposition('attachment; filename=plain.txt')).toBe('plain.txt');
  });
  it('без заголовка — null', () => {
    expect(filenameFromDisposition(null)).toBeNull();
    expect(filenameFromDisposition('inline')).toBeNull();
  });
});

describe('saveBlob', () => {
  it('кликает по ссылке с именем файла', () => {
    const create = vi.fn(() => 'blob:x');
    const revoke = vi.fn();
    Object.assign(URL, { createObjectURL: create, revokeObjectURL: revoke });
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => undefined);
    saveBlob(new Blob(['x']), 'файл.txt');
    expect(click).toHaveBeenCalled();
    expect(create).toHaveBeenCalled();
  });
});
