import { DecimalPipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, input } from '@angular/core';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { Bytes } from './bytes';

// Порог, после которого элемент стоит заметить: дальше выбор элемента для загрузки начнёт его пропускать.
const WARN_PERCENT = 85;

@Component({
  selector: 'app-capacity-bar',
  imports: [MatProgressBarModule, Bytes, DecimalPipe],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    @if (percent() !== null) {
      <mat-progress-bar mode="determinate" [value]="percent()" [class.full]="full()"
                        [attr.aria-label]="'Занято ' + (percent() | number: '1.0-0') + '%'" />
      <div class="text">
        {{ used() | bytes }} из {{ capacity() | bytes }} · {{ percent() | number: '1.0-1' }}%
      </div>
    } @else {
      <div class="text muted">{{ used() | bytes }} · ёмкость неизвестна</div>
    }
  `,
  styles: `
    :host { display: block; min-width: 160px; }
    .text { font-size: 12px; margin-top: 4px; white-space: nowrap; }
    mat-progress-bar { border-radius: 4px; }
    .full { --mat-progress-bar-active-indicator-color: var(--mat-sys-error); }
  `,
})
export class CapacityBar {
  readonly used = input<number | null | undefined>(0);
  readonly capacity = input<number | null | undefined>(0);

  protected readonly percent = computed(() => {
    const cap = this.capacity() ?? 0;
    return cap > 0 ? Math.min(100, ((this.used() ?? 0) / cap) * 100) : null;
  });
  protected readonly full = computed(() => (this.percent() ?? 0) >= WARN_PERCENT);
}
