import { TestBed } from '@angular/core/testing';
import { MAT_DIALOG_DATA } from '@angular/material/dialog';
import { JsonDialog } from './json-dialog';

describe('JsonDialog', () => {
  it('показывает отчёт в виде JSON', async () => {
    TestBed.configureTestingModule({
      imports: [JsonDialog],
      providers: [{ provide: MAT_DIALOG_DATA, useValue: { title: 'Scrub', summary: 'Ошибок нет', value: { checked: 3, corrupted: [] } } }],
    });
    const fixture = TestBed.createComponent(JsonDialog);
    await fixture.whenStable();
    const text = (fixture.nativeElement as HTMLElement).textContent ?? '';
    expect(text).toContain('Ошибок нет');
    expect(text).toContain('"checked": 3');
  });
});
