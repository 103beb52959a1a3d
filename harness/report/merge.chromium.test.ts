/**
 * The merged report in a real browser (Debian's Chromium, headless, driven by playwright-core,
 * index.html from file://), like report.chromium.test.ts does for one run. Three inputs, as a
 * lab leaves them: 2.6.3 split over two identical benches (two shards of one device) and 2.6.2
 * on another bench, merged by `bx-hil merge` as a user runs it.
 *
 * Checks: three input columns fold into two device columns; every 2.6.3 test, from either
 * shard, has its cell in the one 2.6.3 column with the right outcome; a test of the second
 * shard opens with its timeline, and its evidence files (copied beside the report) exist; the
 * page makes no network request and throws nothing. Screenshot: reports/screenshots/merge-matrix.png.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CHROMIUM, haveChromium, openReportPage } from './chromium.testing.ts';
import { shardedSample, writeInputs } from './merge.testing.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const screenshots = join(root, 'reports', 'screenshots');

const title = haveChromium
  ? 'merged report (two shards + another firmware) in headless Chromium'
  : `merged report in headless Chromium (skipped: ${CHROMIUM} not found; apt-get install chromium, or set BX_CHROMIUM)`;

describe.skipIf(!haveChromium)(title, () => {
  let dir: string;
  let browser: Browser | undefined;
  let page: Page;
  const { shard1, shard2, other } = shardedSample();
  const requests: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bxhil-merge-chromium-'));
    await mkdir(screenshots, { recursive: true });
    const files = await writeInputs(dir, { 'bench-1': shard1, 'bench-2': shard2, 'bench-old': other });
    const merged = spawnSync(
      process.execPath,
      [join(root, 'bin', 'bx-hil.js'), 'merge', ...files, '--out', join(dir, 'lab')],
      { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    // The 2.6.3 sample has failing tests: exit 1 is the merge reporting them, not an error.
    expect(merged.status, merged.stdout + merged.stderr).toBe(1);
    expect(merged.stdout).toContain('merged 3 input(s) into 2 device column(s)');
    ({ browser, page } = await openReportPage(pathToFileURL(join(dir, 'lab', 'index.html')).href, {
      requests,
      pageErrors,
    }));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('three input columns fold into two device columns, one per firmware', async () => {
    const heads = await page.locator('#m-head th').evaluateAll((ths) => ths.map((th) => th.textContent ?? ''));
    expect(heads).toEqual(['Test', '2.6.3sim-2.6.3', '2.6.2sim-2.6.2']);
    const ids = new Set([...shard1.tests, ...shard2.tests, ...other.tests].map((t) => t.id));
    expect(await page.locator('tr.test').count()).toBe(ids.size);
    await page.screenshot({ path: join(screenshots, 'merge-matrix.png') });
  });

  test('every 2.6.3 test, from either shard, sits in the one 2.6.3 column with its outcome', async () => {
    for (const t of [...shard1.tests, ...shard2.tests]) {
      const cell = page.locator(`tr.test[data-test="${t.id}"] button.cell[data-col="c:sim-2.6.3"]`);
      expect(await cell.getAttribute('class'), t.id).toContain(`o-${t.outcome}`);
    }
    for (const t of other.tests) {
      const cell = page.locator(`tr.test[data-test="${t.id}"] button.cell[data-col="c:sim-2.6.2"]`);
      expect(await cell.getAttribute('class'), t.id).toContain(`o-${t.outcome}`);
    }
  });

  test('a test of the second shard opens with its timeline, and its copied evidence files exist', async () => {
    const t = shard2.tests.find((x) => x.outcome === 'pass' && x.suite === 'tls-handshake')!;
    await page.click(`tr.test[data-test="${t.id}"] button.cell[data-col="c:sim-2.6.3"]`);
    await page.waitForSelector('#detail #timeline');
    expect(await page.locator('#detail h2').textContent()).toBe(t.id);
    expect(await page.locator('#timeline [data-lane="module"]').count()).toBeGreaterThan(2);
    const files = await page
      .locator('#detail a.file')
      .evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
    expect(files.length).toBeGreaterThan(2);
    for (const f of files) {
      expect(f).toContain('/lab/inputs/bench-2/evidence/');
      expect(existsSync(fileURLToPath(f)), f).toBe(true);
    }
    await page.keyboard.press('Escape');
  });

  test('the page made no network request and threw nothing', () => {
    expect(requests.filter((r) => !r.startsWith('file://'))).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
