import { startDownload } from './native-download';

describe('startDownload', () => {
  afterEach(() => vi.restoreAllMocks());

  it('кликает по ссылке на адрес без токена и убирает её', () => {
    const clicked: HTMLAnchorElement[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this);
    });
    startDownload('http://localhost:8030/api/v1/links/abc.1.sig', 'отчёт.pdf');
    expect(clicked).toHaveLength(1);
    expect(clicked[0].href).toBe('http://localhost:8030/api/v1/links/abc.1.sig');
    expect(clicked[0].download).toBe('отчёт.pdf');
    expect(clicked[0].rel).toContain('noreferrer');
    expect(clicked[0].isConnected).toBe(false);
  });

  it('не создаёт Blob: тело файла в память вкладки не читается', () => {
    const create = vi.fn();
    Object.assign(URL, { createObjectURL: create });
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => undefined);
    startDownload('/query/api/v1/links/t', 'a.bin');
    expect(create).not.toHaveBeenCalled();
  });
});
