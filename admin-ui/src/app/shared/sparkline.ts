import { ChangeDetectionStrategy, Component, computed, input } from '@angular/core';

/** Точки ломаной в координатах SVG; ось Y перевёрнута, минимум шкалы — ноль (скорости неотрицательны). */
export function sparklinePoints(values: readonly number[], width: number, height: number, pad = 2): [number, number][] {
  if (values.length === 0) {
    return [];
  }
  const max = Math.max(...values, 0);
  const span = max > 0 ? max : 1;
  const step = values.length > 1 ? (width - 2 * pad) / (values.length - 1) : 0;
  return values.map((v, i) => [
    round(pad + i * step),
    round(height - pad - (Math.max(v, 0) / span) * (height - 2 * pad)),
  ]);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Лёгкий график без библиотек: десятки точек не стоят сотен килобайт chart.js. */
@Component({
  selector: 'app-sparkline',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <svg [attr.viewBox]="'0 0 ' + width() + ' ' + height()" [attr.width]="width()" [attr.height]="height()"
         role="img" [attr.aria-label]="label()" preserveAspectRatio="none">
      @if (line()) {
        <path class="area" [attr.d]="area()" />
        <path class="line" [attr.d]="line()" />
      } @else {
        <line class="baseline" x1="0" [attr.y1]="height() - 1" [attr.x2]="width()" [attr.y2]="height() - 1" />
      }
    </svg>
  `,
  styles: `
    :host { display: block; }
    svg { width: 100%; display: block; }
    .line { fill: none; stroke: var(--mat-sys-primary); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
    .area { fill: var(--mat-sys-primary); opacity: .12; }
    .baseline { stroke: var(--mat-sys-outline-variant); stroke-dasharray: 4 4; }
  `,
})
export class Sparkline {
  readonly values = input.required<readonly number[]>();
  readonly width = input(240);
  readonly height = input(48);
  readonly label = input('график');

  private readonly points = computed(() => sparklinePoints(this.values(), this.width(), this.height()));

  protected readonly line = computed(() => {
    const pts = this.points();
    return pts.length > 1 ? pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x} ${y}`).join(' ') : '';
  });

  protected readonly area = computed(() => {
    const pts = this.points();
    if (pts.length < 2) {
      return '';
    }
    const bottom = this.height();
    return `${this.line()} L${pts[pts.length - 1][0]} ${bottom} L${pts[0][0]} ${bottom} Z`;
  });
}
