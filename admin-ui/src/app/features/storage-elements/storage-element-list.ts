import { DatePipe, SlicePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, OnInit, inject, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatIconModule } from '@angular/material/icon';
import { MatMenuModule } from '@angular/material/menu';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatTableModule } from '@angular/material/table';
import { MatTooltipModule } from '@angular/material/tooltip';
import { Observable, filter, finalize, switchMap } from 'rxjs';
import { Notifier } from '../../core/api/notifier';
import { problemMessage } from '../../core/api/problem';
import { CapacityBar } from '../../shared/capacity-bar';
import { confirmAction } from '../../shared/confirm-dialog';
import { EmptyState } from '../../shared/empty-state';
import { JsonDialog } from '../../shared/json-dialog';
import { StorageElementRegister } from './storage-element-register';
import {
  MODE_LABELS,
  StorageElement,
  StorageElementsApi,
  StorageMode,
  formatLag,
  nextMode,
  replicationLabel,
  statusClass,
} from './storage-elements-api';

const MODE_WARNINGS: Partial<Record<StorageMode, string>> = {
  ro: 'Запись на элемент прекратится, файлы останутся доступны для чтения.\nВернуть режим rw через API нельзя.',
  ar: 'Файлы уйдут в холодный архив: метаданные останутся в поиске, данные — только после восстановления.\n' +
    'Выйти из ar можно только изменением конфигурации элемента и перезапуском.',
};

/** Реестр элементов хранения: состояние, режимы и обслуживание (синхронизация, кэш, scrub). */
@Component({
  selector: 'app-storage-element-list',
  imports: [
    DatePipe, SlicePipe, MatTableModule, MatButtonModule, MatIconModule, MatMenuModule, MatProgressBarModule,
    MatTooltipModule, CapacityBar, EmptyState,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './storage-element-list.html',
  styleUrl: './storage-element-list.scss',
})
export class StorageElementList implements OnInit {
  private readonly api = inject(StorageElementsApi);
  private readonly dialog = inject(MatDialog);
  private readonly notifier = inject(Notifier);

  protected readonly columns = ['name', 'mode', 'status', 'capacity', 'files', 'priority', 'actions'];
  protected readonly elements = signal<StorageElement[]>([]);
  protected readonly loading = signal(false);
  protected readonly loadError = signal('');
  /** Элементы, над которыми идёт операция: scrub большого элемента может длиться минуты. */
  protected readonly busy = signal<ReadonlySet<StorageElement['id']>>(new Set());

  protected readonly modeLabels: Partial<Record<string, string>> = MODE_LABELS;
  protected readonly nextMode = nextMode;
  protected readonly statusClass = statusClass;
  protected readonly formatLag = formatLag;
  protected readonly replicationLabel = replicationLabel;

  ngOnInit(): void {
    this.load();
  }

  protected load(): void {
    this.loading.set(true);
    this.loadError.set('');
    this.api
      .list()
      .pipe(finalize(() => this.loading.set(false)))
      .subscribe({
        next: (items) => this.elements.set(items),
        error: (err) => this.loadError.set(problemMessage(err)),
      });
  }

  protected register(): void {
    this.dialog
      .open(StorageElementRegister, { width: '640px' })
      .afterClosed()
      .pipe(filter(Boolean))
      .subscribe((created: StorageElement) => {
        this.notifier.success(`Элемент «${created.name}» зарегистрирован`);
        this.load();
      });
  }

  protected sync(el: StorageElement): void {
    this.run(el, this.api.sync(el.id), () => {
      this.notifier.success(`«${el.name}»: данные обновлены`);
      this.load();
    });
  }

  protected changeMode(el: StorageElement): void {
    const target = nextMode(el.mode);
    if (!target) {
      return;
    }
    confirmAction(this.dialog, {
      title: `Перевести «${el.name}» в режим ${target}?`,
      message: `${el.mode} → ${target}. ${MODE_WARNINGS[target] ?? ''}`,
      confirmText: `Перевести в ${target}`,
      danger: true,
    })
      .pipe(filter(Boolean))
      .subscribe(() =>
        this.run(el, this.api.changeMode(el.id, target), () => {
          this.notifier.success(`«${el.name}» переведён в режим ${target}`);
          this.load();
        }),
      );
  }

  protected consistency(el: StorageElement): void {
    this.run(el, this.api.cacheConsistency(el.id), (report) =>
      this.showReport(`Согласованность кэша — ${el.name}`, report),
    );
  }

  protected rebuild(el: StorageElement): void {
    confirmAction(this.dialog, {
      title: `Перестроить кэш «${el.name}»?`,
      message: 'Таблица кэша будет заполнена заново из attr.json. На больших элементах это долго; поиск по элементу в это время может быть неполным.',
      confirmText: 'Перестроить',
    })
      .pipe(filter(Boolean))
      .subscribe(() =>
        this.run(el, this.api.cacheRebuild(el.id), (report) => this.showReport(`Перестроение кэша — ${el.name}`, report)),
      );
  }

  protected scrub(el: StorageElement): void {
    this.run(el, this.api.scrub(el.id), (report) => this.showReport(`Проверка целостности (scrub) — ${el.name}`, report));
  }

  protected remove(el: StorageElement): void {
    confirmAction(this.dialog, {
      title: `Удалить «${el.name}» из реестра?`,
      message: 'Файлы на самом элементе не удаляются, но сервисы перестанут его видеть.',
      confirmText: 'Удалить',
      danger: true,
    })
      .pipe(
        filter(Boolean),
        switchMap(() => this.api.remove(el.id)),
      )
      .subscribe({
        next: () => {
          this.notifier.success(`«${el.name}» удалён из реестра`);
          this.load();
        },
        error: (err) => this.notifier.error(err),
      });
  }

  protected isBusy(el: StorageElement): boolean {
    return this.busy().has(el.id);
  }

  private run<T>(el: StorageElement, op: Observable<T>, done: (result: T) => void): void {
    this.setBusy(el.id, true);
    op.pipe(finalize(() => this.setBusy(el.id, false))).subscribe({
      next: done,
      error: (err) => this.notifier.error(err, el.name),
    });
  }

  private setBusy(id: StorageElement['id'], on: boolean): void {
    const next = new Set(this.busy());
    if (on) {
      next.add(id);
    } else {
      next.delete(id);
    }
    this.busy.set(next);
  }

  private showReport(title: string, report: unknown): void {
    this.dialog.open(JsonDialog, { data: { title, value: report, summary: reportSummary(report) }, width: '720px' });
  }
}

interface MemberReport {
  id: string;
  ok: boolean;
  result?: unknown;
  error?: { detail?: string };
}

/** Короткий итог отчёта, если элемент вернул привычные поля; иначе оператор смотрит JSON целиком.
 * У реплицированного элемента отчёт — по каждому члену: итог каждого через «; ». */
export function reportSummary(report: unknown): string | undefined {
  if (!report || typeof report !== 'object') {
    return undefined;
  }
  const r = report as Record<string, unknown>;
  if (Array.isArray(r['members'])) {
    return (r['members'] as MemberReport[])
      .map((m) => `${m.id}: ${m.ok ? (reportSummary(m.result) ?? 'выполнено') : `ошибка — ${m.error?.detail ?? 'нет ответа'}`}`)
      .join('; ');
  }
  if (typeof r['consistent'] === 'boolean') {
    return r['consistent'] ? 'Кэш согласован с attr.json' : 'Найдены расхождения кэша с attr.json';
  }
  const bad = r['corrupted'] ?? r['mismatches'] ?? r['errors'];
  const badCount = Array.isArray(bad) ? bad.length : typeof bad === 'number' ? bad : undefined;
  if (badCount !== undefined) {
    return badCount === 0 ? 'Проблем не найдено' : `Найдено проблем: ${badCount}`;
  }
  return undefined;
}
