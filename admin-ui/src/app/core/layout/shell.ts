import { BreakpointObserver } from '@angular/cdk/layout';
import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, inject, OnInit } from '@angular/core';
import { toSignal } from '@angular/core/rxjs-interop';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatIconModule } from '@angular/material/icon';
import { MatListModule } from '@angular/material/list';
import { MatMenuModule } from '@angular/material/menu';
import { MatPaginatorIntl } from '@angular/material/paginator';
import { MatSidenavModule } from '@angular/material/sidenav';
import { MatToolbarModule } from '@angular/material/toolbar';
import { RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';
import { map } from 'rxjs';
import { Notifier } from '../api/notifier';
import { Session } from '../auth/session';
import { RussianPaginatorIntl } from '../i18n/russian-paginator-intl';
import { ChangePassword } from './change-password';

interface NavItem {
  path: string;
  label: string;
  icon: string;
}

const PASSWORD_WARN_DAYS = 7;

/** Каркас страниц после входа: боковое меню и панель с пользователем. */
@Component({
  selector: 'app-shell',
  imports: [
    RouterOutlet, RouterLink, RouterLinkActive, DatePipe,
    MatSidenavModule, MatToolbarModule, MatListModule, MatIconModule, MatButtonModule, MatMenuModule,
  ],
  // Подписи пагинатора задаём здесь, а не в app.config: там импорт модуля пагинатора
  // утянул бы его в стартовый бандл (+200 КБ), а нужен он только на страницах за входом.
  providers: [{ provide: MatPaginatorIntl, useClass: RussianPaginatorIntl }],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './shell.html',
  styleUrl: './shell.scss',
})
export class Shell implements OnInit {
  private readonly session = inject(Session);
  private readonly dialog = inject(MatDialog);
  private readonly notifier = inject(Notifier);

  protected readonly nav: NavItem[] = [
    { path: '/dashboard', label: 'Обзор', icon: 'dashboard' },
    { path: '/storage-elements', label: 'Элементы хранения', icon: 'storage' },
    { path: '/files', label: 'Файлы', icon: 'folder_open' },
    { path: '/service-accounts', label: 'Сервисные аккаунты', icon: 'vpn_key' },
    { path: '/admin-users', label: 'Администраторы', icon: 'manage_accounts' },
    { path: '/audit', label: 'Журнал аудита', icon: 'fact_check' },
  ];

  // На узком экране меню выезжает поверх, на ноутбуке и шире — всегда открыто.
  protected readonly wide = toSignal(
    inject(BreakpointObserver).observe('(min-width: 960px)').pipe(map((s) => s.matches)),
    { initialValue: true },
  );

  protected readonly user = this.session.user;

  protected readonly passwordExpiresSoon = computed(() => {
    const at = this.user()?.password_expires_at;
    if (!at) {
      return null;
    }
    const days = (new Date(at).getTime() - Date.now()) / 86_400_000;
    return days <= PASSWORD_WARN_DAYS ? at : null;
  });

  ngOnInit(): void {
    if (!this.session.user()) {
      this.session.loadMe().subscribe({ error: (err) => this.notifier.error(err, 'Профиль не загружен') });
    }
  }

  protected changePassword(): void {
    this.dialog.open(ChangePassword);
  }

  protected logout(): void {
    this.session.logout();
  }
}
