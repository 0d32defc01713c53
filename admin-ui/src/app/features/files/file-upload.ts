import { DatePipe, DecimalPipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatButtonToggleModule } from '@angular/material/button-toggle';
import { MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatIconModule } from '@angular/material/icon';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { Subscription } from 'rxjs';
import { problemMessage } from '../../core/api/problem';
import { Bytes } from '../../shared/bytes';
import { FileUploader, RESUMABLE_THRESHOLD, UploadResult } from './file-uploader';

@Component({
  selector: 'app-file-upload',
  imports: [
    ReactiveFormsModule, DatePipe, DecimalPipe, MatDialogModule, MatButtonModule, MatButtonToggleModule, MatFormFieldModule,
    MatInputModule, MatIconModule, MatProgressBarModule, Bytes,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './file-upload.html',
  styles: `
    .file-row { display: flex; align-items: center; gap: 12px; margin-bottom: 16px; }
    .file-name { font-weight: 500; word-break: break-all; }
    .progress { margin: 12px 0; }
    .result { display: grid; grid-template-columns: auto 1fr; gap: 4px 12px; font-size: 13px; }
    .result dt { color: var(--mat-sys-on-surface-variant); }
    .result dd { margin: 0; word-break: break-all; }
    mat-button-toggle-group { margin-bottom: 16px; }
  `,
})
export class FileUpload {
  private readonly uploader = inject(FileUploader);
  private readonly ref = inject(MatDialogRef<FileUpload, UploadResult | true | undefined>);
  private subscription: Subscription | null = null;

  protected readonly form = inject(NonNullableFormBuilder).group({
    retention: ['temporary' as 'temporary' | 'permanent'],
    ttlDays: [30, [Validators.min(1), Validators.max(36500)]],
    description: ['', Validators.maxLength(1000)],
    tags: [''],
  });
  protected readonly file = signal<File | null>(null);
  protected readonly loaded = signal(0);
  protected readonly total = signal(0);
  protected readonly uploading = signal(false);
  protected readonly error = signal('');
  protected readonly result = signal<UploadResult | null>(null);
  protected readonly done = signal(false);
  protected readonly percent = computed(() => (this.total() ? (this.loaded() / this.total()) * 100 : 0));
  protected readonly resumable = computed(() => (this.file()?.size ?? 0) > RESUMABLE_THRESHOLD);

  constructor() {
    // Закрытие окна посреди загрузки отменяет её, а не оставляет висеть в фоне.
    this.ref.beforeClosed().subscribe(() => this.subscription?.unsubscribe());
  }

  protected pick(event: Event): void {
    const input = event.target as HTMLInputElement;
    this.file.set(input.files?.[0] ?? null);
    this.error.set('');
    this.result.set(null);
    this.done.set(false);
    this.loaded.set(0);
  }

  protected start(): void {
    const file = this.file();
    if (!file || this.form.invalid || this.uploading()) {
      return;
    }
    const { retention, ttlDays, description, tags } = this.form.getRawValue();
    this.uploading.set(true);
    this.error.set('');
    this.total.set(file.size);
    this.subscription = this.uploader
      .upload(file, {
        retention_policy: retention,
        ttl_days: retention === 'temporary' ? ttlDays : null,
        description,
        tags: tags.split(',').map((t) => t.trim()).filter(Boolean),
      })
      .subscribe({
        next: (event) => {
          if (event.kind === 'progress') {
            this.loaded.set(event.loaded);
            this.total.set(event.total || file.size);
          } else {
            this.loaded.set(this.total());
            this.result.set(event.result);
            this.done.set(true);
          }
        },
        error: (err) => {
          this.uploading.set(false);
          this.error.set(problemMessage(err));
        },
        complete: () => this.uploading.set(false),
      });
  }

  protected close(): void {
    this.ref.close(this.done() ? (this.result() ?? true) : undefined);
  }
}
