import { HttpErrorResponse } from '@angular/common/http';
import { TestBed } from '@angular/core/testing';
import { MatSnackBar } from '@angular/material/snack-bar';
import { Notifier } from './notifier';

describe('Notifier', () => {
  it('показывает detail ошибки с префиксом', () => {
    const open = vi.fn();
    TestBed.configureTestingModule({ providers: [{ provide: MatSnackBar, useValue: { open } }] });
    const notifier = TestBed.inject(Notifier);
    notifier.error(new HttpErrorResponse({ status: 507, error: { detail: 'Нет места' } }), 'Загрузка');
    expect(open).toHaveBeenCalledWith('Загрузка: Нет места', 'Закрыть', expect.objectContaining({ duration: 10000 }));
    notifier.success('Готово');
    expect(open).toHaveBeenLastCalledWith('Готово', 'OK', expect.anything());
  });
});
