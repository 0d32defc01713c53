import { Injectable, inject } from '@angular/core';
import { MatSnackBar } from '@angular/material/snack-bar';
import { problemMessage } from './problem';

/** Единое место для всплывающих сообщений: ошибки API показываются текстом detail, а не пустым экраном. */
@Injectable({ providedIn: 'root' })
export class Notifier {
  private readonly snack = inject(MatSnackBar);

  success(message: string): void {
    this.snack.open(message, 'OK', { duration: 4000, panelClass: 'snack-success' });
  }

  error(err: unknown, prefix?: string): void {
    const text = problemMessage(err);
    // Ошибки держим дольше: оператор должен успеть прочитать причину.
    this.snack.open(prefix ? `${prefix}: ${text}` : text, 'Закрыть', { duration: 10000, panelClass: 'snack-error' });
  }
}
