// The console full of the demo's month, in headless Chromium: every coordinator page renders in
// Chinese with its charts drawn and no serious accessibility violation, and its screenshot is
// kept (docs/console-*.png are copies of these). Run by tests/it/browser_demo.rs with
//   BASE_URL   the demo's console, e.g. http://127.0.0.1:40123
//   CHROMIUM   the browser executable (default /usr/bin/chromium)
//   SHOTS      where screenshots go
import { accessible, checker, chinese, start } from './common.mjs';

const base = process.env.BASE_URL;
const { browser, page, shots } = await start();
const state = { current: 'start' };
const check = checker(state);

// [path, screenshot name, charts expected]
const PAGES = [
  ['/', 'overview', 3],
  ['/stats', 'stats', 1],
  ['/referrals', 'referrals', 0],
  ['/leads', 'leads', 0],
  ['/alerts', 'alerts', 0],
  ['/inspections', 'inspections', 0],
  ['/procedure', 'procedure', 0],
  ['/penalties?offence=CL-213', 'penalties', 0],
];
try {
  for (const [path, name, charts] of PAGES) {
    state.current = name;
    const sep = path.includes('?') ? '&' : '?';
    const response = await page.goto(`${base}${path}${sep}as=330100-SFJ`);
    check(response.status() === 200, `GET ${path} answers 200`);
    if (charts > 0) {
      await page.waitForSelector('.chart[data-drawn] canvas');
      const drawn = await page.locator('.chart[data-drawn]').count();
      check(drawn >= charts, `${drawn} charts drawn`);
    }
    const rows = (await page.locator('tbody tr').count()) + (await page.locator('.col .card').count());
    check(rows > 0 || charts > 0, `the page has data (${rows} rows or cards)`);
    await chinese(page, check);
    await accessible(page, check);
    await page.screenshot({ path: `${shots}/demo-${name}.png`, fullPage: name !== 'leads' && name !== 'alerts' });
  }
} catch (error) {
  console.error(`FAILED ${error.message}`);
  await page.screenshot({ path: `${shots}/failed-demo-${state.current}.png`, fullPage: true });
  await browser.close();
  process.exit(1);
}
await browser.close();
