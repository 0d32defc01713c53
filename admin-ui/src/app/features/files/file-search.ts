import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, DestroyRef, OnInit, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { NonNullableFormBuilder, ReactiveFormsModule } from '@angular/forms';
import { MatAutocompleteModule, MatAutocompleteSelectedEvent } from '@angular/material/autocomplete';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatExpansionModule } from '@angular/material/expansion';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatIconModule } from '@angular/material/icon';
import { MatInputModule } from '@angular/material/input';
import { MatMenuModule } from '@angular/material/menu';
import { MatPaginatorModule, PageEvent } from '@angular/material/paginator';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import { MatSortModule, Sort } from '@angular/material/sort';
import { MatTableModule } from '@angular/material/table';
import { MatTooltipModule } from '@angular/material/tooltip';
import {
  Subscription, catchError, debounceTime, distinctUntilChanged, filter, finalize, map, of, switchMap,
} from 'rxjs';
import { Notifier } from '../../core/api/notifier';
import { problemCode, problemMessage } from '../../core/api/problem';
import { Bytes } from '../../shared/bytes';
import { confirmAction } from '../../shared/confirm-dialog';
import { EmptyState } from '../../shared/empty-state';
import { startDownload } from '../../shared/native-download';
import { StorageElement, StorageElementsApi } from '../storage-elements/storage-elements-api';
import { FileDetails } from './file-details';
import { FileTransfer } from './file-transfer';
import { FileUpload } from './file-upload';
import {
  FileRecord, FilesApi, SearchMode, SearchRequest, SearchResponse, SortBy, SortOrder, Suggestion, TERMINAL_STATES, Transaction,
} from './files-api';

const SUGGEST_MIN_CHARS = 2;

/** Поиск по всем элементам (scatter-gather в query-module) и операции над найденными файлами. */
@Component({
  selector: 'app-file-search',
  imports: [
    ReactiveFormsModule, DatePipe, MatTableModule, MatSortModule, MatPaginatorModule, MatFormFieldModule, MatInputModule,
    MatSelectModule, MatButtonModule, MatIconModule, MatMenuModule, MatAutocompleteModule, MatExpansionModule,
    MatProgressBarModule, MatTooltipModule, Bytes, EmptyState,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './file-search.html',
  styleUrl: './file-search.scss',
})
export class FileSearch implements OnInit {
  private readonly api = inject(FilesApi);
  private readonly elementsApi = inject(StorageElementsApi);
  private readonly dialog = inject(MatDialog);
  private readonly notifier = inject(Notifier);
  private readonly destroyRef = inject(DestroyRef);
  private searchSub: Subscription | null = null;

  protected readonly form = inject(NonNullableFormBuilder).group({
    query: [''],
    mode: ['fulltext' as SearchMode],
    tags: [''],
    filename: [''],
    contentType: [''],
    username: [''],
    createdAfter: [''],
    createdBefore: [''],
  });

  // Тип файла — под размером, а не отдельной колонкой: на 1280 px иначе уезжают кнопки действий.
  protected readonly columns = ['original_filename', 'file_size', 'created_at', 'retention', 'element', 'actions'];
  protected readonly response = signal<SearchResponse | null>(null);
  protected readonly loading = signal(false);
  protected readonly error = signal('');
  protected readonly suggestions = signal<Suggestion[]>([]);
  protected readonly pageIndex = signal(0);
  protected readonly pageSize = signal(25);
  protected readonly sort = signal<{ by?: SortBy; order?: SortOrder }>({});
  protected readonly busyIds = signal<ReadonlySet<string>>(new Set());
  private readonly elements = signal<StorageElement[]>([]);

  protected readonly results = computed(() => this.response()?.results ?? []);
  protected readonly total = computed(() => this.response()?.total_count ?? 0);
  /** storage_element_id файла совпадает с id элемента в реестре. */
  private readonly elementIndex = computed(() => new Map(this.elements().map((el) => [el.id, el] as const)));

  ngOnInit(): void {
    this.elementsApi.list().pipe(catchError(() => of([]))).subscribe((list) => this.elements.set(list));
    this.form.controls.query.valueChanges
      .pipe(
        map((v) => v.trim()),
        debounceTime(250),
        distinctUntilChanged(),
        switchMap((prefix) =>
          prefix.length < SUGGEST_MIN_CHARS ? of([]) : this.api.suggest(prefix).pipe(catchError(() => of([]))),
        ),
        takeUntilDestroyed(this.destroyRef),
      )
      .subscribe((list) => this.suggestions.set(list));
    this.search();
  }

  protected submit(): void {
    this.pageIndex.set(0);
    this.search();
  }

  protected reset(): void {
    this.form.reset();
    this.sort.set({});
    this.submit();
  }

  protected pickSuggestion(event: MatAutocompleteSelectedEvent): void {
    const picked = event.option.value as Suggestion;
    // Подсказка-тег уходит в фильтр тегов, а не в текст запроса: так точнее.
    if (picked.kind === 'tag') {
      const tags = new Set(splitTags(this.form.controls.tags.value));
      tags.add(picked.text);
      this.form.patchValue({ tags: [...tags].join(', '), query: '' });
    } else {
      this.form.patchValue({ query: picked.text });
    }
    this.submit();
  }

  protected displaySuggestion(value: Suggestion | string | null): string {
    return typeof value === 'string' ? value : (value?.text ?? '');
  }

  protected onPage(event: PageEvent): void {
    this.pageIndex.set(event.pageIndex);
    this.pageSize.set(event.pageSize);
    this.search();
  }

  protected onSort(event: Sort): void {
    const by = SORT_COLUMNS[event.active];
    this.sort.set(event.direction && by ? { by, order: event.direction } : {});
    this.pageIndex.set(0);
    this.search();
  }

  protected search(): void {
    this.searchSub?.unsubscribe();
    this.loading.set(true);
    this.error.set('');
    this.searchSub = this.api
      .search(this.buildRequest())
      .pipe(finalize(() => this.loading.set(false)))
      .subscribe({
        next: (res) => this.response.set(res),
        error: (err) => {
          this.response.set(null);
          this.error.set(problemMessage(err));
        },
      });
  }

  buildRequest(): SearchRequest {
    const v = this.form.getRawValue();
    const query = typeof v.query === 'string' ? v.query : this.displaySuggestion(v.query);
    return {
      query,
      mode: v.mode,
      tags: splitTags(v.tags),
      filename: v.filename,
      content_type: v.contentType,
      username: v.username,
      created_after: v.createdAfter ? new Date(v.createdAfter).toISOString() : undefined,
      // Граница «по» включительно: до конца выбранного дня.
      created_before: v.createdBefore ? new Date(`${v.createdBefore}T23:59:59.999`).toISOString() : undefined,
      limit: this.pageSize(),
      offset: this.pageIndex() * this.pageSize(),
      sort_by: this.sort().by,
      sort_order: this.sort().order,
    };
  }

  protected elementOf(file: FileRecord): StorageElement | undefined {
    return file.storage_element_id ? this.elementIndex().get(String(file.storage_element_id)) : undefined;
  }

  protected isBusy(file: FileRecord): boolean {
    return this.busyIds().has(file.file_id);
  }

  protected upload(): void {
    this.dialog
      .open(FileUpload, { width: '560px', disableClose: true })
      .afterClosed()
      .pipe(filter(Boolean))
      .subscribe(() => this.search());
  }

  protected details(file: FileRecord): void {
    this.dialog.open(FileDetails, { data: { file }, width: '720px' });
  }

  protected download(file: FileRecord): void {
    this.setBusy(file.file_id, true);
    this.api
      .downloadUrl(file.file_id)
      .pipe(finalize(() => this.setBusy(file.file_id, false)))
      .subscribe({
        // дальше — браузер: поток на диск, своя полоса и докачка (временная ссылка, docs/links.md)
        next: (url) => startDownload(url, file.original_filename),
        error: (err) => {
          if (isArchived(err)) {
            this.offerRestore(file, problemMessage(err));
          } else {
            this.notifier.error(err, 'Скачивание');
          }
        },
      });
  }

  protected restore(file: FileRecord): void {
    this.api.restore(file.file_id).subscribe({
      next: () => this.notifier.success(`Восстановление «${file.original_filename}» запрошено`),
      error: (err) => this.notifier.error(err, 'Восстановление'),
    });
  }

  protected finalize(file: FileRecord): void {
    confirmAction(this.dialog, {
      title: 'Сделать файл постоянным?',
      message: `«${file.original_filename}» будет перенесён на элемент rw и получит срок хранения архива. Отменить это нельзя.`,
      confirmText: 'Финализировать',
    })
      .pipe(
        filter(Boolean),
        switchMap(() => this.api.finalize(file.file_id)),
      )
      .subscribe({
        next: (tx) => this.followTransaction(file, tx, 'Финализация'),
        error: (err) => this.notifier.error(err, 'Финализация'),
      });
  }

  protected transfer(file: FileRecord): void {
    this.dialog
      .open(FileTransfer, { data: { file }, width: '520px' })
      .afterClosed()
      .pipe(filter((tx): tx is Transaction => !!tx && typeof tx === 'object' && 'id' in tx))
      .subscribe((tx) => this.followTransaction(file, tx, 'Перенос'));
  }

  /** Сага идёт в фоне: строка файла занята, пока она не закончится; итог — уведомлением и новым поиском. */
  private followTransaction(file: FileRecord, tx: Transaction, what: 'Финализация' | 'Перенос'): void {
    const [started, finished, running] =
      what === 'Финализация' ? ['запущена', 'завершена', 'ещё идёт'] : ['запущен', 'завершён', 'ещё идёт'];
    this.notifier.success(`«${file.original_filename}»: ${what.toLowerCase()} ${started}, ждём завершения…`);
    this.setBusy(file.file_id, true);
    this.api
      .awaitTransaction(tx)
      .pipe(finalize(() => this.setBusy(file.file_id, false)))
      .subscribe({
        next: (done) => {
          if (done.state === 'done') {
            this.notifier.success(`«${file.original_filename}»: ${what.toLowerCase()} ${finished}, файл на ${done.target}`);
          } else if (!TERMINAL_STATES.includes(done.state)) {
            this.notifier.success(`«${file.original_filename}»: ${what.toLowerCase()} ${running} (транзакция ${done.id})`);
          } else {
            this.notifier.error(
              new Error(`${done.state === 'compensated' ? 'отменено, файл остался на месте' : 'не удалось'}: ${done.error ?? done.state}`),
              what,
            );
          }
          this.search();
        },
        error: (err) => this.notifier.error(err, what),
      });
  }

  protected remove(file: FileRecord): void {
    confirmAction(this.dialog, {
      title: 'Удалить файл?',
      message: `«${file.original_filename}» будет удалён без возможности восстановления. Удаление возможно только на элементе в режиме edit.`,
      confirmText: 'Удалить',
      danger: true,
    })
      .pipe(
        filter(Boolean),
        switchMap(() => this.api.remove(file.file_id)),
      )
      .subscribe({
        next: () => {
          this.notifier.success(`«${file.original_filename}» удалён`);
          this.search();
        },
        error: (err) => this.notifier.error(err, 'Удаление'),
      });
  }

  private offerRestore(file: FileRecord, reason: string): void {
    confirmAction(this.dialog, {
      title: 'Файл в холодном архиве',
      message: `${reason}\n\nЗапросить восстановление? Скачать файл можно будет после его завершения.`,
      confirmText: 'Восстановить',
    })
      .pipe(filter(Boolean))
      .subscribe(() => this.restore(file));
  }

  private setBusy(id: string, on: boolean): void {
    const next = new Set(this.busyIds());
    if (on) {
      next.add(id);
    } else {
      next.delete(id);
    }
    this.busyIds.set(next);
  }
}

/** Колонка таблицы → поле сортировки query-module; остальные колонки сервер сортировать не умеет. */
const SORT_COLUMNS: Record<string, SortBy> = { original_filename: 'name', file_size: 'file_size', created_at: 'created_at' };

function splitTags(raw: string): string[] {
  return raw.split(',').map((t) => t.trim()).filter(Boolean);
}

/** 409 на скачивание с кодом про архив — файл на элементе ar, его надо сначала восстановить. */
function isArchived(err: unknown): boolean {
  const code = problemCode(err) ?? '';
  return /archiv|restore/.test(code);
}
