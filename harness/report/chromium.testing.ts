/**
 * The report page in a real browser, for the browser tests (only tests import this file):
 * Debian's Chromium (or `BX_CHROMIUM`), headless, driven by playwright-core.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.BX_CHROMIUM ?? '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

/**
 * Launch Chromium, open `url` and wait until the page script says it is ready. Every request
 * the page makes goes to `seen.requests`, every error it throws to `seen.pageErrors`. When the
 * page does not open, the browser is closed before the error is thrown.
 */
export async function openReportPage(
  url: string,
  seen: { requests: string[]; pageErrors: string[] },
): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 45_000,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    page.setDefaultTimeout(10_000);
    page.on('request', (r) => seen.requests.push(r.url()));
    page.on('pageerror', (e) => seen.pageErrors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');
    return { browser, page };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
