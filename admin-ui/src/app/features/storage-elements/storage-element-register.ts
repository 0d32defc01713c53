import { KeyValuePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { finalize } from 'rxjs';
import { problemMessage } from '../../core/api/problem';
import { formatBytes } from '../../shared/bytes';
import { DiscoveredElement, StorageElementsApi } from './storage-elements-api';

/**
 * Регистрация в два шага: сначала admin читает /info элемента (discover) и мы показываем,
 * что нашлось, — и только после подтверждения элемент попадает в реестр.
 */
@Component({
  selector: 'app-storage-element-register',
  imports: [
    ReactiveFormsModule, KeyValuePipe, MatDialogModule, MatButtonModule, MatFormFieldModule, MatInputModule,
    MatProgressBarModule,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './storage-element-register.html',
  styles: `
    .preview { width: 100%; border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
    .preview td { padding: 4px 8px; border-bottom: 1px solid var(--mat-sys-outline-variant); vertical-align: top; }
    .preview td:first-child { color: var(--mat-sys-on-surface-variant); white-space: nowrap; width: 35%; }
    .url-row { display: flex; gap: 8px; align-items: flex-start; }
    .url-row mat-form-field { flex: 1; }
    .url-row button { margin-top: 8px; }
  `,
})
export class StorageElementRegister {
  private readonly api = inject(StorageElementsApi);
  private readonly ref = inject(MatDialogRef<StorageElementRegister>);
  private readonly fb = inject(NonNullableFormBuilder);

  protected readonly form = this.fb.group({
    apiUrl: ['', [Validators.required, Validators.pattern(/^\s*https?:\/\/\S+\s*$/)]],
    name: [''],
    priority: [100, [Validators.min(0), Validators.max(100000)]],
  });
  protected readonly preview = signal<DiscoveredElement | null>(null);
  protected readonly busy = signal(false);
  protected readonly error = signal('');

  protected discover(): void {
    const control = this.form.controls.apiUrl;
    control.markAsTouched();
    if (control.invalid) {
      return;
    }
    this.busy.set(true);
    this.error.set('');
    this.preview.set(null);
    this.api
      .discover(control.value.trim())
      .pipe(finalize(() => this.busy.set(false)))
      .subscribe({
        next: (info) => {
          this.preview.set(info);
          const suggested = info['name'] ?? info['id'];
          if (!this.form.controls.name.value && typeof suggested === 'string') {
            this.form.controls.name.setValue(suggested);
          }
        },
        error: (err) => this.error.set(problemMessage(err)),
      });
  }

  protected confirm(): void {
    if (!this.preview() || this.form.invalid) {
      return;
    }
    const { apiUrl, name, priority } = this.form.getRawValue();
    this.busy.set(true);
    this.error.set('');
    this.api
      .register({ api_url: apiUrl.trim(), ...(name.trim() ? { name: name.trim() } : {}), priority: Number(priority) })
      .pipe(finalize(() => this.busy.set(false)))
      .subscribe({
        next: (created) => this.ref.close(created),
        error: (err) => this.error.set(problemMessage(err)),
      });
  }

  /** Адрес поменяли — старый предпросмотр больше не про этот элемент. */
  protected urlChanged(): void {
    this.preview.set(null);
  }

  protected display(key: string, value: unknown): string {
    if (value === null || value === undefined || value === '') {
      return '—';
    }
    if (typeof value === 'number' && /bytes|capacity|used|free|size/.test(key)) {
      return `${formatBytes(value)} (${value})`;
    }
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
}
