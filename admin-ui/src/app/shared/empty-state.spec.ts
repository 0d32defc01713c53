import { TestBed } from '@angular/core/testing';
import { EmptyState } from './empty-state';

describe('EmptyState', () => {
  it('показывает текст и подсказку', async () => {
    const fixture = TestBed.createComponent(EmptyState);
    fixture.componentRef.setInput('text', 'Ничего не найдено');
    fixture.componentRef.setInput('hint', 'Измените запрос');
    await fixture.whenStable();
    const text = (fixture.nativeElement as HTMLElement).textContent;
    expect(text).toContain('Ничего не найдено');
    expect(text).toContain('Измените запрос');
  });
});
