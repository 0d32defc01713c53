import { ChangeDetectionStrategy, Component } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { RouterLink } from '@angular/router';
import { EmptyState } from './empty-state';

@Component({
  selector: 'app-not-found',
  imports: [EmptyState, MatButtonModule, RouterLink],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <app-empty-state icon="explore_off" text="Такой страницы нет" hint="Возможно, ссылка устарела.">
      <a mat-stroked-button routerLink="/dashboard">На обзор</a>
    </app-empty-state>
  `,
})
export class NotFound {}
