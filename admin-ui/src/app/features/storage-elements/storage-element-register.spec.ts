import { HttpErrorResponse } from '@angular/common/http';
import { TestBed } from '@angular/core/testing';
import { MatDialogRef } from '@angular/material/dialog';
import { of, throwError } from 'rxjs';
import { StorageElementRegister } from './storage-element-register';
import { StorageElementsApi } from './storage-elements-api';

describe('StorageElementRegister', () => {
  const api = { discover: vi.fn(), register: vi.fn() };
  const ref = { close: vi.fn() };

  beforeEach(() => {
    api.discover.mockReset();
    api.register.mockReset();
    ref.close.mockReset();
    TestBed.configureTestingModule({
      providers: [
        { provide: StorageElementsApi, useValue: api },
        { provide: MatDialogRef, useValue: ref },
      ],
    });
  });

  async function setup() {
    const fixture = TestBed.createComponent(StorageElementRegister);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    const url = el.querySelector<HTMLInputElement>('[data-testid=se-url]')!;
    url.value = 'http://se-03:8012';
    url.dispatchEvent(new Event('input'));
    return { fixture, el };
  }

  it('сначала discover с предпросмотром, затем регистрация', async () => {
    api.discover.mockReturnValue(of({ id: 'se-03', mode: 'rw', capacity_bytes: 1073741824 }));
    api.register.mockReturnValue(of({ id: 3, name: 'se-03' }));
    const { fixture, el } = await setup();
    const confirmBtn = el.querySelector<HTMLButtonElement>('[data-testid=se-confirm]')!;
    expect(confirmBtn.disabled).toBe(true);

    el.querySelector<HTMLButtonElement>('[data-testid=se-discover]')!.click();
    await fixture.whenStable();
    expect(api.discover).toHaveBeenCalledWith('http://se-03:8012');
    const preview = el.querySelector('[data-testid=se-preview]')!.textContent!;
    expect(preview).toContain('se-03');
    expect(preview).toContain('1,0 ГиБ');

    confirmBtn.click();
    await fixture.whenStable();
    expect(api.register).toHaveBeenCalledWith({ api_url: 'http://se-03:8012', name: 'se-03', priority: 100 });
    expect(ref.close).toHaveBeenCalledWith({ id: 3, name: 'se-03' });
  });

  it('ошибка discover видна в окне', async () => {
    api.discover.mockReturnValue(
      throwError(() => new HttpErrorResponse({ status: 502, error: { detail: 'Элемент не отвечает' } })),
    );
    const { fixture, el } = await setup();
    el.querySelector<HTMLButtonElement>('[data-testid=se-discover]')!.click();
    await fixture.whenStable();
    expect(el.querySelector('.inline-error')?.textContent).toContain('Элемент не отвечает');
    expect(api.register).not.toHaveBeenCalled();
  });
});
