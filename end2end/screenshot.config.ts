// `make screenshot`: the README's picture, taken by Playwright from the real page. Kept apart
// from the test suite so that running the tests never rewrites a tracked file.
import { defineConfig } from '@playwright/test';
import base from './playwright.config';

export default defineConfig({ ...base, testDir: './screenshot', workers: 1 });
