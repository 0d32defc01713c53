import { LOCALE_ID, Provider } from '@angular/core';
import { appConfig } from './app.config';

describe('appConfig', () => {
  it('включает русскую локаль', () => {
    const providers = appConfig.providers as Provider[];
    expect(providers).toContainEqual({ provide: LOCALE_ID, useValue: 'ru' });
  });
});
