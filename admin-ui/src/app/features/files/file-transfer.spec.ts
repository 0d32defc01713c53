import { TestBed } from '@angular/core/testing';
import { MAT_DIALOG_DATA, MatDialogRef } from '@angular/material/dialog';
import { of } from 'rxjs';
import { StorageElementsApi } from '../storage-elements/storage-elements-api';
import { FileTransfer } from './file-transfer';
import { FilesApi } from './files-api';

describe('FileTransfer', () => {
  it('предлагает только другие записываемые элементы и отправляет перенос', async () => {
    const transfer = vi.fn(() => of({ transaction_id: 't-1' }));
    const close = vi.fn();
    TestBed.configureTestingModule({
      providers: [
        {
          provide: StorageElementsApi,
          useValue: {
            list: () =>
              of([
                { id: 'se-01', name: 'se-01', mode: 'edit', status: 'online', api_url: '' },
                { id: 'se-02', name: 'se-02', mode: 'rw', status: 'online', api_url: '', capacity_bytes: 100, used_bytes: 10 },
                { id: 'se-03', name: 'se-03', mode: 'ro', status: 'online', api_url: '' },
              ]),
          },
        },
        { provide: FilesApi, useValue: { transfer } },
        { provide: MatDialogRef, useValue: { close } },
        { provide: MAT_DIALOG_DATA, useValue: { file: { file_id: 'f-1', original_filename: 'a.txt', file_size: 1, storage_element_id: 'se-01' } } },
      ],
    });
    const fixture = TestBed.createComponent(FileTransfer);
    await fixture.whenStable();
    const cmp = fixture.componentInstance as unknown as {
      targets: () => { id: string }[];
      target: { set(v: string): void };
      submit(): void;
    };
    expect(cmp.targets().map((e) => e.id)).toEqual(['se-02']);
    cmp.target.set('se-02');
    cmp.submit();
    expect(transfer).toHaveBeenCalledWith('f-1', 'se-02');
    expect(close).toHaveBeenCalledWith({ transaction_id: 't-1' });
  });
});
