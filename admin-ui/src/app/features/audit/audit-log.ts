import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, OnInit, computed, inject, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatIconModule } from '@angular/material/icon';
import { MatInputModule } from '@angular/material/input';
import { MatPaginatorModule, PageEvent } from '@angular/material/paginator';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import { MatTableModule } from '@angular/material/table';
import { finalize } from 'rxjs';
import { problemMessage } from '../../core/api/problem';
import { EmptyState } from '../../shared/empty-state';
import { JsonDialog } from '../../shared/json-dialog';
import { AuditApi, AuditEntry, AuditVerification } from './audit-api';

const ACTOR_TYPES: Record<string, string> = {
  user: 'администратор',
  service_account: 'сервисный аккаунт',
  system: 'система',
};

/** Файловые операции приходят в журнал событиями ingester и элементов (группа admin-audit). */
const ACTION_LABELS: Record<string, string> = {
  'file.upload': 'загрузка файла',
  'file.delete': 'удаление файла',
  'file.finalize': 'перевод в постоянное хранение',
  'file.transfer': 'перенос на другой элемент',
  'file.expire': 'удаление по сроку хранения',
  'file.restore': 'восстановление из архива',
  'file.corruption_detected': 'обнаружено повреждение',
  'file.link_create': 'создана временная ссылка',
  'file.link_download': 'скачивание по временной ссылке',
  'file.link_revoke': 'временная ссылка отозвана',
  'storage_element.mode_changed': 'смена режима элемента',
};

type VerifyState =
  | { kind: 'pending' }
  | { kind: 'done'; result: AuditVerification }
  | { kind: 'error'; message: string };

@Component({
  selector: 'app-audit-log',
  imports: [
    ReactiveFormsModule, DatePipe, MatTableModule, MatPaginatorModule, MatFormFieldModule, MatInputModule,
    MatSelectModule, MatButtonModule, MatIconModule, MatProgressBarModule, EmptyState,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './audit-log.html',
  styles: `
    .filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin-bottom: 12px; }
    .filters mat-form-field { width: 220px; }
    tr.mat-mdc-row { cursor: pointer; }
    tr.mat-mdc-row:hover { background: var(--mat-sys-surface-container-low); }
    .verify { display: inline-flex; align-items: center; gap: 4px; }
    .small { font-size: 12px; }
  `,
})
export class AuditLog implements OnInit {
  private readonly api = inject(AuditApi);
  private readonly dialog = inject(MatDialog);

  protected readonly form = inject(NonNullableFormBuilder).group({ action: [''], actor: [''], file_id: [''], outcome: [''] });
  protected readonly columns = ['time', 'actor', 'action', 'resource', 'ip', 'outcome'];
  protected readonly entries = signal<AuditEntry[]>([]);
  protected readonly total = signal(0);
  protected readonly pageIndex = signal(0);
  protected readonly pageSize = signal(50);
  protected readonly loading = signal(false);
  protected readonly error = signal('');
  protected readonly verification = signal<VerifyState>({ kind: 'pending' });

  protected readonly verifyChip = computed(() => {
    const v = this.verification();
    if (v.kind === 'pending') {
      return { cls: '', text: 'Проверка целостности…' };
    }
    if (v.kind === 'error') {
      return { cls: 'warn', text: `Проверка недоступна: ${v.message}` };
    }
    return v.result.valid
      ? { cls: 'ok', text: `Цепочка журнала цела · проверено записей: ${v.result.checked}` }
      : { cls: 'bad', text: `Журнал нарушен, начиная с записи #${v.result.first_bad_id ?? '?'}` };
  });

  ngOnInit(): void {
    this.load();
    this.verify();
  }

  protected apply(): void {
    this.pageIndex.set(0);
    this.load();
  }

  protected onPage(event: PageEvent): void {
    this.pageIndex.set(event.pageIndex);
    this.pageSize.set(event.pageSize);
    this.load();
  }

  protected load(): void {
    this.loading.set(true);
    this.error.set('');
    this.api
      .list(this.form.getRawValue(), this.pageSize(), this.pageIndex() * this.pageSize())
      .pipe(finalize(() => this.loading.set(false)))
      .subscribe({
        next: (page) => {
          this.entries.set(page.items);
          this.total.set(page.total);
        },
        error: (err) => this.error.set(problemMessage(err)),
      });
  }

  protected verify(): void {
    this.verification.set({ kind: 'pending' });
    this.api.verify().subscribe({
      next: (result) => this.verification.set({ kind: 'done', result }),
      error: (err) => this.verification.set({ kind: 'error', message: problemMessage(err) }),
    });
  }

  /** Имя понятнее id; у системных записей (bootstrap, фоновые задачи) нет ни того, ни другого. */
  protected actor(entry: AuditEntry): string {
    return entry.actor_name ?? entry.actor_id ?? '—';
  }

  protected actionLabel(entry: AuditEntry): string | null {
    return ACTION_LABELS[entry.action] ?? null;
  }

  /** Имя файла из события: id файла человеку ничего не говорит. */
  protected fileName(entry: AuditEntry): string | null {
    const name = entry.target_type === 'file' ? entry.details?.['original_filename'] : null;
    return typeof name === 'string' && name ? name : null;
  }

  protected actorType(entry: AuditEntry): string {
    return ACTOR_TYPES[entry.actor_type] ?? entry.actor_type;
  }

  protected outcomeClass(outcome: string | undefined): string {
    const o = (outcome ?? '').toLowerCase();
    return o === 'success' ? 'ok' : o ? 'bad' : '';
  }

  protected outcomeText(outcome: string | undefined): string {
    return outcome === 'success' ? 'успех' : outcome === 'failure' ? 'ошибка' : (outcome ?? '—');
  }

  protected open(entry: AuditEntry): void {
    this.dialog.open(JsonDialog, { data: { title: `Запись аудита #${entry.id}`, value: entry }, width: '720px' });
  }
}
