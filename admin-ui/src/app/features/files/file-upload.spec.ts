import { HttpErrorResponse } from '@angular/common/http';
import { TestBed } from '@angular/core/testing';
import { MatDialogRef } from '@angular/material/dialog';
import { NEVER, Subject, throwError } from 'rxjs';
import { FileUpload } from './file-upload';
import { FileUploader, UploadEvent } from './file-uploader';

describe('FileUpload', () => {
  const uploader = { upload: vi.fn() };
  const ref = { close: vi.fn(), beforeClosed: () => NEVER };

  beforeEach(() => {
    uploader.upload.mockReset();
    ref.close.mockReset();
    TestBed.configureTestingModule({
      providers: [
        { provide: FileUploader, useValue: uploader },
        { provide: MatDialogRef, useValue: ref },
      ],
    });
  });

  async function setup() {
    const fixture = TestBed.createComponent(FileUpload);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    const input = el.querySelector<HTMLInputElement>('[data-testid=upload-input]')!;
    const file = new File(['данные'], 'опись.txt', { type: 'text/plain' });
    Object.defineProperty(input, 'files', { value: [file] });
    input.dispatchEvent(new Event('change'));
    await fixture.whenStable();
    return { fixture, el, file };
  }

  it('показывает прогресс и результат загрузки', async () => {
    const events = new Subject<UploadEvent>();
    uploader.upload.mockReturnValue(events);
    const { fixture, el, file } = await setup();
    const tags = el.querySelector<HTMLInputElement>('[data-testid=upload-tags]')!;
    tags.value = 'акт, 2026 ';
    tags.dispatchEvent(new Event('input'));
    el.querySelector<HTMLButtonElement>('[data-testid=upload-start]')!.click();
    expect(uploader.upload).toHaveBeenCalledWith(file, expect.objectContaining({ retention_policy: 'temporary', ttl_days: 30, tags: ['акт', '2026'] }));

    events.next({ kind: 'progress', loaded: 5, total: 10 });
    await fixture.whenStable();
    expect(el.querySelector('[data-testid=upload-progress]')?.textContent).toContain('50%');

    events.next({ kind: 'done', result: { file_id: 'f-42', checksum: 'ab12' } });
    events.complete();
    await fixture.whenStable();
    expect(el.querySelector('[data-testid=upload-file-id]')?.textContent).toBe('f-42');

    (el.querySelector('mat-dialog-actions button') as HTMLButtonElement).click();
    expect(ref.close).toHaveBeenCalledWith({ file_id: 'f-42', checksum: 'ab12' });
  });

  it('ошибка загрузки показывается текстом сервера', async () => {
    uploader.upload.mockReturnValue(
      throwError(() => new HttpErrorResponse({ status: 507, error: { detail: 'Нет подходящего элемента с местом', code: 'insufficient_storage' } })),
    );
    const { fixture, el } = await setup();
    el.querySelector<HTMLButtonElement>('[data-testid=upload-start]')!.click();
    await fixture.whenStable();
    expect(el.querySelector('[data-testid=upload-error]')?.textContent).toContain('Нет подходящего элемента');
  });
});
