// The console full of the demo's month, in headless Chromium: every coordinator page renders in
// Chinese with its charts drawn and no serious accessibility violation, and its screenshot is
// kept (docs/console-*.png are copies of these). Run by tests/it/browser_demo.rs with
//   BASE_URL   the demo's console, e.g. http://127.0.0.1:40123
//   CHROMIUM   the browser executable (default /usr/bin/chromium)
//   SHOTS      where screenshots go
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const base = process.env.BASE_URL;
const shots = process.env.SHOTS || 'target/browser';
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const ENGLISH = /\b(Reported|Approved|Transferred|Received|Filed|NotFiled|Open|Closed|Unassigned|PossibleCrime|PenaltyInsteadOfReferral|LateDisclosure|Overdue|overdue|did not act|answers lead|case \S+ was penalised)\b/;
let current = 'start';
function check(ok, what) {
  if (!ok) throw new Error(`${current}: ${what}`);
  console.log(`ok  ${current}: ${what}`);
}

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
    current = name;
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
    const text = await page.locator('main').innerText();
    const hit = text.match(ENGLISH);
    check(!hit, `no English enum name or alert text${hit ? ` (found ${hit[0]})` : ''}`);
    await page.addScriptTag({ path: axePath });
    const found = await page.evaluate(async () => {
      const result = await window.axe.run(document, { resultTypes: ['violations'] });
      return result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.nodes.length}): ${v.nodes[0].target.join(' ')}`);
    });
    check(found.length === 0, `axe-core: no serious violation${found.length ? `: ${found.join('; ')}` : ''}`);
    await page.screenshot({ path: `${shots}/demo-${name}.png`, fullPage: name !== 'leads' && name !== 'alerts' });
  }
} catch (error) {
  console.error(`FAILED ${error.message}`);
  await page.screenshot({ path: `${shots}/failed-demo-${current}.png`, fullPage: true });
  await browser.close();
  process.exit(1);
}
await browser.close();
