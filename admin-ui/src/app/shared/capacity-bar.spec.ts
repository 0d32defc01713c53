import { registerLocaleData } from '@angular/common';
import localeRu from '@angular/common/locales/ru';
import { TestBed } from '@angular/core/testing';
import { CapacityBar } from './capacity-bar';

describe('CapacityBar', () => {
  beforeAll(() => registerLocaleData(localeRu));

  it('показывает занятое, ёмкость и процент; подсвечивает почти полный', async () => {
    const fixture = TestBed.createComponent(CapacityBar);
    fixture.componentRef.setInput('used', 900);
    fixture.componentRef.setInput('capacity', 1000);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    expect(el.textContent).toContain('900 Б из 1000 Б');
    expect(el.textContent).toContain('90%');
    expect(el.querySelector('mat-progress-bar')?.classList).toContain('full');
  });

  it('без ёмкости пишет, что она неизвестна', async () => {
    const fixture = TestBed.createComponent(CapacityBar);
    fixture.componentRef.setInput('used', 10);
    fixture.componentRef.setInput('capacity', null);
    await fixture.whenStable();
    expect((fixture.nativeElement as HTMLElement).textContent).toContain('ёмкость неизвестна');
  });
});
