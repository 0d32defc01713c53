import { Pipe, PipeTransform } from '@angular/core';

const UNITS = ['Б', 'КиБ', 'МиБ', 'ГиБ', 'ТиБ', 'ПиБ'];

/** Размер в двоичных единицах: ёмкости элементов и размеры файлов считаются в байтах. */
export function formatBytes(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return '—';
  }
  let n = Math.abs(value);
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  const text = unit === 0 ? String(Math.round(n)) : n.toFixed(digits).replace('.', ',');
  return `${value < 0 ? '-' : ''}${text} ${UNITS[unit]}`;
}

@Pipe({ name: 'bytes' })
export class Bytes implements PipeTransform {
  transform(value: number | null | undefined, digits = 1): string {
    return formatBytes(value, digits);
  }
}
