import { TestBed } from '@angular/core/testing';
import { MAT_DIALOG_DATA, MatDialog } from '@angular/material/dialog';
import { of } from 'rxjs';
import { ConfirmDialog, confirmAction } from './confirm-dialog';

describe('ConfirmDialog', () => {
  it('показывает заголовок, текст и кнопку действия', async () => {
    TestBed.configureTestingModule({
      imports: [ConfirmDialog],
      providers: [{ provide: MAT_DIALOG_DATA, useValue: { title: 'Удалить?', message: 'Навсегда', confirmText: 'Удалить', danger: true } }],
    });
    const fixture = TestBed.createComponent(ConfirmDialog);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    expect(el.textContent).toContain('Удалить?');
    expect(el.textContent).toContain('Навсегда');
    expect(el.querySelector('[data-testid=confirm]')?.classList).toContain('danger');
  });

  it('confirmAction отдаёт true только при согласии', () => {
    const results: boolean[] = [];
    for (const closed of [true, false, undefined]) {
      const dialog = { open: () => ({ afterClosed: () => of(closed) }) } as unknown as MatDialog;
      confirmAction(dialog, { title: 't', message: 'm' }).subscribe((v) => results.push(v));
    }
    expect(results).toEqual([true, false, false]);
  });
});
