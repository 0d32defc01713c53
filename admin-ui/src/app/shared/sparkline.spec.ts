import { TestBed } from '@angular/core/testing';
import { Sparkline, sparklinePoints } from './sparkline';

describe('Sparkline', () => {
  it('масштабирует значения в высоту', () => {
    expect(sparklinePoints([0, 5, 10], 104, 24)).toEqual([
      [2, 22],
      [52, 12],
      [102, 2],
    ]);
  });

  it('нули рисуются по нижней границе, а не делением на ноль', () => {
    expect(sparklinePoints([0, 0], 10, 10).map(([, y]) => y)).toEqual([8, 8]);
    expect(sparklinePoints([], 10, 10)).toEqual([]);
  });

  it('рисует линию при двух и более точках и пунктир без данных', async () => {
    const fixture = TestBed.createComponent(Sparkline);
    fixture.componentRef.setInput('values', [1, 3, 2]);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    expect(el.querySelector('path.line')?.getAttribute('d')).toMatch(/^M.+L.+L/);

    fixture.componentRef.setInput('values', [1]);
    await fixture.whenStable();
    expect(el.querySelector('path.line')).toBeNull();
    expect(el.querySelector('line.baseline')).not.toBeNull();
  });
});
