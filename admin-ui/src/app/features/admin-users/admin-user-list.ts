import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, OnInit, inject, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatIconModule } from '@angular/material/icon';
import { MatPaginatorModule, PageEvent } from '@angular/material/paginator';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatTableModule } from '@angular/material/table';
import { MatTooltipModule } from '@angular/material/tooltip';
import { filter, finalize, switchMap } from 'rxjs';
import { Notifier } from '../../core/api/notifier';
import { problemMessage } from '../../core/api/problem';
import { normalizeRole } from '../../core/api/roles';
import { Session } from '../../core/auth/session';
import { confirmAction } from '../../shared/confirm-dialog';
import { EmptyState } from '../../shared/empty-state';
import { AdminUserForm } from './admin-user-form';
import { AdminUser, AdminUsersApi, isLocked } from './admin-users-api';

@Component({
  selector: 'app-admin-user-list',
  imports: [
    DatePipe, MatTableModule, MatPaginatorModule, MatButtonModule, MatIconModule, MatProgressBarModule,
    MatTooltipModule, EmptyState,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <div class="page">
      <div class="page-header">
        <h1>Администраторы</h1>
        <button mat-flat-button (click)="create()"><mat-icon>person_add</mat-icon>Добавить</button>
      </div>
      @if (loading()) { <mat-progress-bar mode="indeterminate" class="loading-bar" /> }
      @if (error()) { <div class="inline-error" role="alert">Список не загружен: {{ error() }}</div> }
      @if (users().length) {
        <div class="table-wrap">
          <table mat-table [dataSource]="users()" data-testid="admin-users-table">
            <ng-container matColumnDef="username">
              <th mat-header-cell *matHeaderCellDef>Пользователь</th>
              <td mat-cell *matCellDef="let u">
                <b>{{ u.username }}</b> @if (isSelf(u)) { <span class="chip info">это вы</span> }
                @if (u.is_system) { <span class="chip info">начальный</span> }
              </td>
            </ng-container>
            <ng-container matColumnDef="role">
              <th mat-header-cell *matHeaderCellDef>Роль</th>
              <td mat-cell *matCellDef="let u">{{ normalizeRole(u.role) }}</td>
            </ng-container>
            <ng-container matColumnDef="active">
              <th mat-header-cell *matHeaderCellDef>Статус</th>
              <td mat-cell *matCellDef="let u">
                <span class="chip" [class.ok]="u.is_active" [class.bad]="!u.is_active">
                  {{ u.is_active ? 'активен' : 'отключён' }}
                </span>
                @if (isLocked(u)) { <span class="chip warn" [matTooltip]="'до ' + (u.locked_until | date: 'dd.MM.yyyy HH:mm')">заблокирован</span> }
                @if (u.must_change_password) { <div class="muted small">должен сменить пароль</div> }
              </td>
            </ng-container>
            <ng-container matColumnDef="totp">
              <th mat-header-cell *matHeaderCellDef>TOTP</th>
              <td mat-cell *matCellDef="let u">{{ u.totp_enabled ? 'включён' : 'нет' }}</td>
            </ng-container>
            <ng-container matColumnDef="password_expires_at">
              <th mat-header-cell *matHeaderCellDef>Пароль до</th>
              <td mat-cell *matCellDef="let u">{{ (u.password_expires_at | date: 'dd.MM.yyyy') ?? '—' }}</td>
            </ng-container>
            <ng-container matColumnDef="last_login_at">
              <th mat-header-cell *matHeaderCellDef>Последний вход</th>
              <td mat-cell *matCellDef="let u" class="muted">{{ (u.last_login_at | date: 'dd.MM.yyyy HH:mm') ?? '—' }}</td>
            </ng-container>
            <ng-container matColumnDef="actions">
              <th mat-header-cell *matHeaderCellDef></th>
              <td mat-cell *matCellDef="let u" class="actions">
                <button mat-icon-button (click)="edit(u)" matTooltip="Изменить"><mat-icon>edit</mat-icon></button>
                <button mat-icon-button (click)="remove(u)" [disabled]="isSelf(u)"
                        [matTooltip]="isSelf(u) ? 'Себя удалить нельзя' : 'Удалить'"><mat-icon>delete</mat-icon></button>
              </td>
            </ng-container>
            <tr mat-header-row *matHeaderRowDef="columns"></tr>
            <tr mat-row *matRowDef="let row; columns: columns"></tr>
          </table>
          <mat-paginator [length]="total()" [pageIndex]="pageIndex()" [pageSize]="pageSize()" [pageSizeOptions]="[10, 25, 50]"
                         (page)="onPage($event)" aria-label="Страницы пользователей" />
        </div>
      } @else if (!loading() && !error()) {
        <app-empty-state icon="manage_accounts" text="Пользователей нет" />
      }
    </div>
  `,
  styles: `
    .small { font-size: 12px; }
    .actions { text-align: right; white-space: nowrap; }
  `,
})
export class AdminUserList implements OnInit {
  private readonly api = inject(AdminUsersApi);
  private readonly dialog = inject(MatDialog);
  private readonly notifier = inject(Notifier);
  private readonly session = inject(Session);

  protected readonly columns = ['username', 'role', 'active', 'totp', 'password_expires_at', 'last_login_at', 'actions'];
  protected readonly users = signal<AdminUser[]>([]);
  protected readonly total = signal(0);
  protected readonly pageIndex = signal(0);
  protected readonly pageSize = signal(25);
  protected readonly loading = signal(false);
  protected readonly error = signal('');
  protected readonly normalizeRole = normalizeRole;
  protected readonly isLocked = (u: AdminUser) => isLocked(u);

  ngOnInit(): void {
    this.load();
  }

  protected load(): void {
    this.loading.set(true);
    this.error.set('');
    this.api
      .list(this.pageSize(), this.pageIndex() * this.pageSize())
      .pipe(finalize(() => this.loading.set(false)))
      .subscribe({
        next: (page) => {
          this.users.set(page.items);
          this.total.set(page.total);
        },
        error: (err) => this.error.set(problemMessage(err)),
      });
  }

  protected onPage(event: PageEvent): void {
    this.pageIndex.set(event.pageIndex);
    this.pageSize.set(event.pageSize);
    this.load();
  }

  /** Себя не удаляем: так легко остаться без единого администратора. */
  protected isSelf(user: AdminUser): boolean {
    const me = this.session.user();
    return !!me && (String(me.id) === String(user.id) || me.username === user.username);
  }

  protected create(): void {
    this.openForm(undefined, 'Пользователь создан');
  }

  protected edit(user: AdminUser): void {
    this.openForm(user, `Пользователь ${user.username} сохранён`);
  }

  protected remove(user: AdminUser): void {
    confirmAction(this.dialog, {
      title: `Удалить ${user.username}?`,
      message: 'Пользователь больше не сможет войти в панель.',
      confirmText: 'Удалить',
      danger: true,
    })
      .pipe(
        filter(Boolean),
        switchMap(() => this.api.remove(user.id)),
      )
      .subscribe({
        next: () => {
          this.notifier.success(`${user.username} удалён`);
          this.load();
        },
        error: (err) => this.notifier.error(err, 'Удаление'),
      });
  }

  private openForm(user: AdminUser | undefined, message: string): void {
    this.dialog
      .open(AdminUserForm, { width: '520px', data: user ? { user } : null })
      .afterClosed()
      .pipe(filter(Boolean))
      .subscribe(() => {
        this.notifier.success(message);
        this.load();
      });
  }
}
