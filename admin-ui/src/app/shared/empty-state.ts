import { ChangeDetectionStrategy, Component, input } from '@angular/core';
import { MatIconModule } from '@angular/material/icon';

/** Пустой список должен говорить, что он пуст и что делать, а не выглядеть сломанным. */
@Component({
  selector: 'app-empty-state',
  imports: [MatIconModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <div class="empty" data-testid="empty-state">
      <mat-icon>{{ icon() }}</mat-icon>
      <div class="text">{{ text() }}</div>
      @if (hint()) {
        <div class="hint">{{ hint() }}</div>
      }
      <ng-content />
    </div>
  `,
  styles: `
    .empty { display: flex; flex-direction: column; align-items: center; gap: 8px; padding: 48px 16px; color: var(--mat-sys-on-surface-variant); text-align: center; }
    mat-icon { font-size: 48px; width: 48px; height: 48px; opacity: .6; }
    .text { font-size: 16px; }
    .hint { font-size: 13px; }
  `,
})
export class EmptyState {
  readonly icon = input('inbox');
  readonly text = input.required<string>();
  readonly hint = input<string>();
}
