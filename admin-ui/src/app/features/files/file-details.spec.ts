import { DatePipe } from '@angular/common';
import { HttpErrorResponse } from '@angular/common/http';
import { TestBed } from '@angular/core/testing';
import { MAT_DIALOG_DATA } from '@angular/material/dialog';
import { of, throwError } from 'rxjs';
import { FileDetails, detailRows } from './file-details';
import { FileRecord, FilesApi } from './files-api';

const FILE: FileRecord = {
  file_id: 'f-1',
  original_filename: 'отчёт.pdf',
  file_size: 2048,
  tags: ['акт', 'год'],
  retention_policy: 'temporary',
  custom_field: 'x',
};

describe('detailRows', () => {
  it('подписывает известные поля и добавляет неизвестные', () => {
    const rows = detailRows(FILE, new DatePipe('en-US'));
    expect(rows[0]).toEqual({ key: 'original_filename', label: 'Имя файла', value: 'отчёт.pdf' });
    expect(rows.find((r) => r.key === 'file_size')?.value).toContain('2,0 КиБ');
    expect(rows.find((r) => r.key === 'tags')?.value).toBe('акт, год');
    expect(rows[rows.length - 1]).toEqual({ key: 'custom_field', label: 'custom_field', value: 'x' });
  });
});

describe('FileDetails', () => {
  function setup(metadata: ReturnType<FilesApi['metadata']>) {
    TestBed.configureTestingModule({
      providers: [
        { provide: FilesApi, useValue: { metadata: () => metadata } },
        { provide: MAT_DIALOG_DATA, useValue: { file: FILE } },
      ],
    });
    return TestBed.createComponent(FileDetails);
  }

  it('дополняет карточку полными метаданными', async () => {
    const fixture = setup(of({ ...FILE, checksum: 'deadbeef', metadata: { dept: 'бухгалтерия' } }));
    await fixture.whenStable();
    const text = (fixture.nativeElement as HTMLElement).textContent!;
    expect(text).toContain('deadbeef');
    expect(text).toContain('бухгалтерия');
  });

  it('без полной карточки объясняет, что показано', async () => {
    const fixture = setup(throwError(() => new HttpErrorResponse({ status: 404, error: { detail: 'нет такого' } })));
    await fixture.whenStable();
    expect((fixture.nativeElement as HTMLElement).querySelector('.banner')?.textContent).toContain('нет такого');
  });
});
