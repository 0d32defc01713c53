import { TestBed } from '@angular/core/testing';
import { MAT_DIALOG_DATA } from '@angular/material/dialog';
import { SecretDialog } from './secret-dialog';

describe('SecretDialog', () => {
  it('показывает client_id и секрет с кнопками копирования', async () => {
    TestBed.configureTestingModule({
      imports: [SecretDialog],
      providers: [
        {
          provide: MAT_DIALOG_DATA,
          useValue: {
            title: 'Новый секрет',
            fields: [
              { label: 'client_id', value: 'sa_prod_x' },
              { label: 'client_secret', value: 's3cr3t', secret: true },
            ],
          },
        },
      ],
    });
    const fixture = TestBed.createComponent(SecretDialog);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    expect(el.querySelector('[data-testid=secret-value]')?.textContent).toBe('s3cr3t');
    expect(el.querySelectorAll('button[aria-label^="Скопировать"]').length).toBe(2);
    expect(el.textContent).toContain('только сейчас');
  });
});
