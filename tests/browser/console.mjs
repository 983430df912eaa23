// The coordinator console in headless Chromium (Debian's chromium, driven by playwright-core).
// Run by tests/it/browser.rs, which starts the broker with data and passes:
//   BASE_URL     the console, e.g. http://127.0.0.1:40123
//   CHROMIUM     the browser executable (default /usr/bin/chromium)
//   SHOTS        where screenshots go (on failure: the page that failed; always: the overview and
//                the referral pipeline, for the README)
//   ORG_CITY     a subject with events of two agencies in 西湖区 (330106)
//   ORG_OTHER    a subject whose lead is in 上城区 (330102)
// Prints one line per check; exits non-zero on the first failure.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL;
const shots = process.env.SHOTS || 'target/browser';
const orgCity = process.env.ORG_CITY;
const orgOther = process.env.ORG_OTHER;
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
let current = 'start';

function check(ok, what) {
  if (!ok) throw new Error(`${current}: ${what}`);
  console.log(`ok  ${current}: ${what}`);
}

async function open(path, name) {
  current = name;
  const response = await page.goto(base + path);
  check(response.status() === 200, `GET ${path} answers 200`);
}

const rows = () => page.locator('tbody tr').count();

try {
  await open('/?as=330100-SFJ', 'overview');
  const text = await page.textContent('body');
  check(text.includes('办理中'), 'lead counts are shown');
  check((await page.locator('svg rect').count()) > 0, 'the events chart has bars');
  await page.screenshot({ path: `${shots}/console-overview.png`, fullPage: true });

  await open('/leads?as=330100-SFJ', 'leads board');
  const all = await rows();
  await page.fill('input[name=division]', '330102');
  await Promise.all([page.waitForLoadState('load'), page.click('button')]);
  await page.waitForURL(/division=330102/);
  const filtered = await rows();
  check(all >= 2 && filtered >= 1 && filtered < all, `filtering by division changes the rows (${all} → ${filtered})`);

  await open(`/subject?id=${orgCity}&as=330100-SFJ`, 'subject file');
  const agencies = await page.locator('tbody tr td:nth-child(2)').allTextContents();
  check(new Set(agencies).size >= 2, `events of two agencies (${[...new Set(agencies)].join(', ')})`);

  await open('/referrals?as=330100-SFJ', 'referral pipeline');
  const overdue = page.locator('.deadline.overdue').first();
  check((await overdue.count()) === 1, 'an overdue referral is shown');
  const colour = await overdue.evaluate((el) => getComputedStyle(el).color);
  check(colour === 'rgb(187, 0, 0)', `it is red (${colour})`);
  await page.screenshot({ path: `${shots}/console-referrals.png`, fullPage: true });

  await open('/leads?as=330106-SFJ', 'jurisdiction');
  const county = await page.textContent('tbody');
  check(!county.includes(orgOther), "西湖区's coordinator does not see 上城区's lead");

  await open('/public/penalties', 'public feed');
  const feed = await page.textContent('body');
  check(!/\d{17}[\dX]/.test(feed.replace(/9[0-9A-Z]{17}/g, '')), 'no 身份证号 on the page');
  check(feed.includes('张*'), "a person's name is masked");
} catch (error) {
  console.error(`FAILED ${error.message}`);
  await page.screenshot({ path: `${shots}/failed-${current.replace(/\W+/g, '-')}.png`, fullPage: true });
  await browser.close();
  process.exit(1);
}
await browser.close();
