import { ChangeDetectionStrategy, Component, OnInit, computed, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import { finalize } from 'rxjs';
import { problemMessage } from '../../core/api/problem';
import { formatBytes } from '../../shared/bytes';
import { StorageElement, StorageElementsApi } from '../storage-elements/storage-elements-api';
import { FileRecord, FilesApi } from './files-api';

/** Перенос файла на другой элемент (сага в ingester): цель выбирается из элементов, куда можно писать. */
@Component({
  selector: 'app-file-transfer',
  imports: [FormsModule, MatDialogModule, MatButtonModule, MatFormFieldModule, MatSelectModule, MatProgressBarModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>Перенос файла</h2>
    <mat-dialog-content class="dialog-form">
      <p>«{{ data.file.original_filename }}» сейчас на элементе <b>{{ data.file.storage_element_id ?? '—' }}</b>.</p>
      @if (loading()) {
        <mat-progress-bar mode="indeterminate" class="loading-bar" />
      }
      @if (targets().length) {
        <mat-form-field>
          <mat-label>Целевой элемент</mat-label>
          <mat-select [ngModel]="target()" (ngModelChange)="target.set($event)" data-testid="transfer-target">
            @for (el of targets(); track el.id) {
              <mat-option [value]="el.id">{{ el.name }} · {{ el.mode }} · свободно {{ free(el) }}</mat-option>
            }
          </mat-select>
        </mat-form-field>
      } @else if (!loading()) {
        <p class="muted">Нет других элементов в режиме edit или rw, доступных для записи.</p>
      }
      @if (error()) {
        <div class="inline-error" role="alert">{{ error() }}</div>
      }
    </mat-dialog-content>
    <mat-dialog-actions align="end">
      <button mat-button mat-dialog-close>Отмена</button>
      <button mat-flat-button (click)="submit()" [disabled]="target() === null || busy()" data-testid="transfer-submit">Перенести</button>
    </mat-dialog-actions>
  `,
})
export class FileTransfer implements OnInit {
  private readonly elementsApi = inject(StorageElementsApi);
  private readonly filesApi = inject(FilesApi);
  private readonly ref = inject(MatDialogRef<FileTransfer>);
  protected readonly data = inject<{ file: FileRecord }>(MAT_DIALOG_DATA);

  private readonly elements = signal<StorageElement[]>([]);
  protected readonly targets = computed(() =>
    this.elements().filter(
      (el) =>
        (el.mode === 'edit' || el.mode === 'rw') &&
        el.id !== this.data.file.storage_element_id,
    ),
  );
  protected readonly target = signal<string | null>(null);
  protected readonly loading = signal(true);
  protected readonly busy = signal(false);
  protected readonly error = signal('');

  ngOnInit(): void {
    this.elementsApi
      .list()
      .pipe(finalize(() => this.loading.set(false)))
      .subscribe({ next: (list) => this.elements.set(list), error: (err) => this.error.set(problemMessage(err)) });
  }

  protected free(el: StorageElement): string {
    return el.capacity_bytes ? formatBytes(el.capacity_bytes - (el.used_bytes ?? 0)) : '—';
  }

  protected submit(): void {
    const target = this.target();
    if (target === null) {
      return;
    }
    this.busy.set(true);
    this.error.set('');
    this.filesApi
      .transfer(this.data.file.file_id, target)
      .pipe(finalize(() => this.busy.set(false)))
      .subscribe({ next: (res) => this.ref.close(res ?? {}), error: (err) => this.error.set(problemMessage(err)) });
  }
}
