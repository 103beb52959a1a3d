/**
 * The report page in a real browser: Debian's Chromium, headless, driven by playwright-core,
 * loading index.html from file:// (as a user opening the report would). The report is built
 * from the sample runs (2.6.3 against a 2.6.2 baseline) and their evidence bundles.
 *
 * Checks: the matrix renders (a row per test, cells with the right outcome classes), the
 * filters work (outcome, suite, text), a click opens a test's timeline with both lanes
 * populated and arrows both ways, the security banner says it in words, the keyboard works
 * (Tab/Enter opens, Escape closes), the page makes no network request. Screenshots are kept in
 * reports/screenshots/report-*.png as artifacts.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CHROMIUM, haveChromium, openReportPage } from './chromium.testing.ts';
import { OUTCOME_LABELS } from './outcomes.ts';
import { sampleRun, writeSampleBundles } from './testing.ts';
import { writeReport } from './write.ts';

const screenshots = fileURLToPath(new URL('../../reports/screenshots/', import.meta.url));
const S3 = 'tls-handshake/S3 expired server certificate';

const title = haveChromium
  ? 'report page in headless Chromium'
  : `report page in headless Chromium (skipped: ${CHROMIUM} not found; apt-get install chromium, or set BX_CHROMIUM)`;

describe.skipIf(!haveChromium)(title, () => {
  let dir: string;
  let browser: Browser | undefined;
  let page: Page;
  let url: string;
  const candidate = sampleRun('2.6.3');
  const baseline = sampleRun('2.6.2');
  const requests: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bxhil-chromium-'));
    await mkdir(screenshots, { recursive: true });
    await writeSampleBundles(dir, candidate);
    const { htmlPath } = await writeReport(dir, candidate, { baseline });
    url = pathToFileURL(htmlPath).href;
    ({ browser, page } = await openReportPage(url, { requests, pageErrors }));
  });

  afterAll(async () => {
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the matrix renders a row per test and cells with the right outcome classes', async () => {
    const ids = new Set([...candidate.tests, ...baseline.tests].map((t) => t.id));
    expect(await page.locator('tr.test').count()).toBe(ids.size);
    for (const t of candidate.tests) {
      const cell = page.locator(`tr.test[data-test="${t.id}"] button.cell[data-col="c:sim-2.6.3"]`);
      expect(await cell.getAttribute('class')).toContain(`o-${t.outcome}`);
      // The cell's word comes from the model's outcome labels (outcomes.ts), not a copy in the script.
      expect(await cell.textContent()).toContain(OUTCOME_LABELS[t.outcome].cell);
    }
    expect(await page.locator(`tr.test[data-test="${S3}"] button.cell.sec`).count()).toBe(1);
    expect(await page.locator('.banner-sec').first().textContent()).toContain('SECURITY FAILURE');
    expect(await page.locator('#shown').textContent()).toBe(`${ids.size} of ${ids.size} tests shown`);
    await page.screenshot({ path: join(screenshots, 'report-matrix.png') });
  });

  test('filters: outcome, suite and text search', async () => {
    const visible = async (): Promise<string[]> =>
      page.locator('tr.test:visible').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-test') ?? ''));
    for (const o of ['pass', 'expected-fail', 'fixed', 'skip'])
      await page.uncheck(`#f-outcomes input[data-outcome="${o}"]`);
    expect((await visible()).sort()).toEqual(['mqtt/keep-alive PINGREQ within 1.5 x keepAlive', S3]);
    for (const o of ['pass', 'expected-fail', 'fixed', 'skip'])
      await page.check(`#f-outcomes input[data-outcome="${o}"]`);

    await page.selectOption('#f-suite', 'cert-upload');
    const certRows = await visible();
    expect(certRows.length).toBe(candidate.tests.filter((t) => t.suite === 'cert-upload').length);
    expect(certRows.every((id) => id.startsWith('cert-upload/'))).toBe(true);
    expect(await page.locator('tr.suite-row[data-suite="mqtt"]').isVisible()).toBe(false);
    await page.selectOption('#f-suite', '');

    await page.fill('#f-text', 'DEVICE_ACCEPTED');
    expect(await visible()).toEqual([S3]);
    await page.fill('#f-text', '');
    expect((await visible()).length).toBe(await page.locator('tr.test').count());
  });

  test('a click opens the test: verdict, security banner, both lanes of the timeline with arrows, transcript', async () => {
    await page.click(`tr.test[data-test="${S3}"] td.title`);
    await page.waitForSelector('#detail #timeline');
    expect(await page.locator('#detail h2').textContent()).toBe(S3);
    expect(await page.locator('#detail .banner-sec').textContent()).toBe(
      'SECURITY FAILURE: the module connected to a server it must refuse (expired server certificate)',
    );
    expect(await page.locator('#detail .verdict code').textContent()).toBe('DEVICE_ACCEPTED_EXPIRED_SERVER_CERT');
    expect(await page.locator('#timeline [data-lane="module"]').count()).toBeGreaterThan(3);
    expect(await page.locator('#timeline [data-lane="broker"]').count()).toBeGreaterThan(3);
    const arrows = await page
      .locator('#timeline [data-arrow]')
      .evaluateAll((els) => els.map((e) => `${e.getAttribute('data-arrow')}:${e.textContent}`));
    expect(arrows).toEqual([
      'to-broker:ClientHello →',
      'to-module:← ServerHello',
      'to-module:← Certificate',
      'to-broker:CONNECT →',
      'to-module:← CONNACK',
    ]);
    expect(await page.locator('#transcript').textContent()).toContain('+KMQTT_IND: 1,1');
    const files = await page
      .locator('#detail a.file')
      .evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
    expect(files.map((f) => f.split('/').pop())).toEqual([
      'events.jsonl',
      'meta.json',
      'transcript.txt',
      'verdicts.json',
    ]);
    for (const f of files) expect(existsSync(fileURLToPath(f)), f).toBe(true);
    expect(page.url()).toContain('#test=');
    await page.screenshot({ path: join(screenshots, 'report-detail.png') });
    // The filter bar is sticky; unstick it so it does not cover the top of the element shot.
    const unstick = await page.addStyleTag({ content: '.filters { position: static !important; }' });
    await page.locator('#detail').screenshot({ path: join(screenshots, 'report-timeline.png') });
    await unstick.evaluate((el) => (el as HTMLStyleElement).remove());
  });

  test('keyboard: Tab to a row, Enter opens it, Escape closes and returns focus; cells are buttons', async () => {
    await page.keyboard.press('Escape');
    const row = page.locator('tr.test[data-test="tls-handshake/S5 wrong hostname"]');
    await row.focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#detail h2');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('detail-title');
    expect(
      await page.locator('#timeline [data-arrow="to-broker"]').filter({ hasText: 'Alert: bad_certificate' }).count(),
    ).toBe(1);
    await page.keyboard.press('Escape');
    expect(await page.locator('#detail h2').count()).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-test'))).toBe(
      'tls-handshake/S5 wrong hostname',
    );
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-test'))).toBe(
      'tls-handshake/S9 untrusted root',
    );
    const cell = page.locator(`tr.test[data-test="${S3}"] button.cell[data-col="b:sim-2.6.2"]`);
    await cell.focus();
    await page.keyboard.press('Enter');
    expect(await page.locator('#detail .meta').first().textContent()).toContain('baseline run');
  });

  test('a deep link opens the test; the page made no network request and threw nothing', async () => {
    const deep = await browser!.newPage();
    try {
      deep.on('request', (r) => requests.push(r.url()));
      await deep.goto(`${url}#test=${encodeURIComponent(S3)}&col=${encodeURIComponent('c:sim-2.6.3')}`);
      await deep.waitForSelector('#detail #timeline');
      expect(await deep.locator('#detail h2').textContent()).toBe(S3);
    } finally {
      await deep.close();
    }
    expect(requests.filter((r) => !r.startsWith('file://'))).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
  test('a crafted deep link (prototype keys, malformed escapes) loads without a page error', async () => {
    const s3 = encodeURIComponent(S3);
    // [hash, whether the detail of S3 opens (on its default cell)]
    const crafted: [string, boolean][] = [
      [`#test=${s3}&col=__proto__`, true],
      [`#test=${s3}&col=constructor`, true],
      [`#test=${s3}&col=hasOwnProperty`, true],
      [`#test=${s3}&col=%E0%A4%A`, true],
      [`#test=${s3}&col=%zz`, true],
      ['#test=%zz', false],
      ['#test=__proto__&col=__proto__', false],
    ];
    for (const [hash, opens] of crafted) {
      const deep = await browser!.newPage();
      const errors: string[] = [];
      try {
        deep.on('pageerror', (e) => errors.push(e.message));
        // goto waits for the load event: the inline page script has run (or thrown) by then.
        await deep.goto(`${url}${hash}`);
        expect({ hash, errors }).toEqual({ hash, errors: [] });
        expect(await deep.getAttribute('body', 'data-ready')).toBe('true');
        if (opens) {
          expect(await deep.locator('#detail h2').textContent()).toBe(S3);
          expect(await deep.locator('#detail #timeline').count()).toBe(1);
        } else {
          expect(await deep.locator('#detail h2').count()).toBe(0);
        }
      } finally {
        await deep.close();
      }
    }
  });

  test('the raw toggle adds the raw link events to the timeline and keeps the focus on itself', async () => {
    const withRaw = candidate.tests.find((t) => t.evidenceDir && t.outcome === 'pass');
    expect(withRaw).toBeDefined();
    const deep = await browser!.newPage();
    try {
      await deep.goto(`${url}#test=${encodeURIComponent(withRaw!.id)}&col=${encodeURIComponent('c:sim-2.6.3')}`);
      await deep.waitForSelector('#detail #timeline');
      const times = deep.locator('#timeline .seq > .t');
      const before = await times.count();
      await deep.click('#show-raw');
      expect(await times.count()).toBeGreaterThan(before);
      expect(await deep.locator('#show-raw').isChecked()).toBe(true);
      expect(await deep.evaluate(() => document.activeElement?.id)).toBe('show-raw');
      await deep.click('#show-raw');
      expect(await times.count()).toBe(before);
    } finally {
      await deep.close();
    }
  });
});
