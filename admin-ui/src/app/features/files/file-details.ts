import { DatePipe, JsonPipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, OnInit, computed, inject, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule } from '@angular/material/dialog';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { problemMessage } from '../../core/api/problem';
import { formatBytes } from '../../shared/bytes';
import { FileRecord, FilesApi } from './files-api';

// Порядок и подписи полей attr.json; всё, чего здесь нет, выводится ниже под своим именем.
const KNOWN_FIELDS: [string, string][] = [
  ['original_filename', 'Имя файла'],
  ['file_id', 'Идентификатор'],
  ['file_size', 'Размер'],
  ['content_type', 'Тип содержимого'],
  ['checksum', 'SHA-256'],
  ['description', 'Описание'],
  ['tags', 'Теги'],
  ['retention_policy', 'Политика хранения'],
  ['expires_at', 'Хранится до'],
  ['created_at', 'Создан'],
  ['updated_at', 'Изменён'],
  ['created_by_username', 'Автор'],
  ['created_by_id', 'ID автора'],
  ['storage_element_id', 'Элемент хранения'],
  ['storage_filename', 'Имя на элементе'],
  ['storage_path', 'Путь на элементе'],
  ['compression', 'Сжатие'],
  ['storage_element_mode', 'Режим элемента'],
  ['corrupted', 'Повреждён (scrub)'],
  ['schema_version', 'Версия схемы attr.json'],
];
const DATE_FIELDS = new Set(['created_at', 'updated_at', 'expires_at', 'uploaded_at']);

export interface DetailRow {
  key: string;
  label: string;
  value: string;
}

export function detailRows(file: FileRecord, datePipe: DatePipe): DetailRow[] {
  const format = (key: string, value: unknown): string => {
    if (value === null || value === undefined || value === '') {
      return '—';
    }
    if (key === 'file_size' && typeof value === 'number') {
      return `${formatBytes(value)} (${value.toLocaleString('ru-RU')} байт)`;
    }
    if (DATE_FIELDS.has(key) && typeof value === 'string') {
      return datePipe.transform(value, 'd MMMM y, HH:mm:ss') ?? value;
    }
    if (Array.isArray(value)) {
      return value.length ? value.join(', ') : '—';
    }
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  };
  const known = new Set(KNOWN_FIELDS.map(([k]) => k));
  const rows = KNOWN_FIELDS.filter(([key]) => key in file).map(([key, label]) => ({ key, label, value: format(key, file[key]) }));
  const rest = Object.keys(file)
    .filter((key) => !known.has(key) && key !== 'metadata')
    .sort()
    .map((key) => ({ key, label: key, value: format(key, file[key]) }));
  return [...rows, ...rest];
}

/** Карточка файла: все поля attr.json; метаданные клиента — отдельным JSON-блоком. */
@Component({
  selector: 'app-file-details',
  imports: [MatDialogModule, MatButtonModule, MatProgressBarModule, JsonPipe],
  providers: [DatePipe],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ file().original_filename }}</h2>
    <mat-dialog-content>
      @if (loading()) {
        <mat-progress-bar mode="indeterminate" class="loading-bar" />
      }
      @if (note()) {
        <div class="banner">{{ note() }}</div>
      }
      <table class="details" data-testid="file-details">
        @for (row of rows(); track row.key) {
          <tr><th>{{ row.label }}</th><td [class.mono]="row.key === 'checksum' || row.key === 'file_id'">{{ row.value }}</td></tr>
        }
      </table>
      @if (file().metadata && hasMetadata()) {
        <h3>Метаданные</h3>
        <pre class="json">{{ file().metadata | json }}</pre>
      }
    </mat-dialog-content>
    <mat-dialog-actions align="end"><button mat-button mat-dialog-close>Закрыть</button></mat-dialog-actions>
  `,
  styles: `
    .details { border-collapse: collapse; width: 100%; font-size: 13px; }
    .details th { text-align: left; font-weight: 400; color: var(--mat-sys-on-surface-variant); padding: 4px 12px 4px 0; white-space: nowrap; vertical-align: top; width: 30%; }
    .details td { padding: 4px 0; word-break: break-all; }
    .details tr { border-bottom: 1px solid var(--mat-sys-outline-variant); }
    .json { font-size: 12px; background: var(--mat-sys-surface-container); padding: 12px; border-radius: 8px; overflow: auto; }
  `,
})
export class FileDetails implements OnInit {
  private readonly api = inject(FilesApi);
  private readonly datePipe = inject(DatePipe);
  private readonly data = inject<{ file: FileRecord }>(MAT_DIALOG_DATA);

  protected readonly file = signal<FileRecord>(this.data.file);
  protected readonly loading = signal(true);
  protected readonly note = signal('');
  protected readonly rows = computed(() => detailRows(this.file(), this.datePipe));
  protected readonly hasMetadata = computed(() => Object.keys(this.file().metadata ?? {}).length > 0);

  ngOnInit(): void {
    // В выдаче поиска может быть не всё: за полной карточкой идём в query-module.
    this.api.metadata(this.data.file.file_id).subscribe({
      next: (full) => {
        this.file.set({ ...this.data.file, ...full });
        this.loading.set(false);
      },
      error: (err) => {
        this.loading.set(false);
        this.note.set(`Показаны данные из поиска: ${problemMessage(err)}`);
      },
    });
  }
}
