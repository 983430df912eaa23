// The inspections page, the public verification page (扫码入企) and the procedure page (执法监督)
// in headless Chromium.
// Run by tests/it/browser.rs, which starts the broker with the demo's inspections and passes:
//   BASE_URL     the console, e.g. http://127.0.0.1:40123
//   CHROMIUM     the browser executable
//   SHOTS        where screenshots go
// Prints one line per check; exits non-zero on the first failure.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL;
const shots = process.env.SHOTS || 'target/browser';
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

try {
  current = 'inspections page';
  let response = await page.goto(`${base}/inspections?as=330100-SFJ`);
  check(response.status() === 200, 'GET /inspections answers 200');
  const text = await page.textContent('body');
  check(text.includes('杭州示范食品有限公司') && text.includes('1 / 3'), 'the joint inspection counts once against the cap');
  check(text.includes('330106-SCJG：参加') && text.includes('330100-STHJ：参加'), 'both agencies accepted the joint inspection');
  check(text.includes('inspection.certificate_invalid') && text.includes('inspection.outside_territory'), 'the checks raised alerts');
  const qr = page.locator('img[src$="qr.svg"]').first();
  await qr.waitFor();
  const width = await qr.evaluate((img) => img.complete && img.naturalWidth);
  check(width > 0, `the QR images load (${width} px)`);
  await page.screenshot({ path: `${shots}/console-inspections.png`, fullPage: true });

  current = 'verify page';
  const done = page.locator('tr', { hasText: '已实施' }).locator('a[href^="/verify/"]').first();
  await Promise.all([page.waitForLoadState('load'), done.click()]);
  const verify = await page.textContent('body');
  check(verify.includes('西湖区市场监督管理局') && verify.includes('SCJG-TS-01'), 'agency and item are shown');
  check(verify.includes('ZJ-SCJG-0001（张**）'), "the inspector's name is masked");
  check(verify.includes('ZJ-SCJG-0099（证件无效：未登记）'), 'an unregistered certificate is said to be invalid');
  check(!verify.includes('张执法') && !/\d{17}[\dX]/.test(verify.replace(/9[0-9A-Z]{17}/g, '')), 'no personal data');
  await page.screenshot({ path: `${shots}/verify.png`, fullPage: true });
  await page.fill('textarea[name=text]', '检查人员未出示执法证件');
  await Promise.all([page.waitForLoadState('load'), page.click('button')]);
  check((await page.textContent('h1')) === '投诉已提交', 'a complaint is filed from the page');

  current = 'procedure page';
  response = await page.goto(`${base}/procedure?as=330100-SFJ`);
  check(response.status() === 200, 'GET /procedure answers 200');
  const procedure = await page.textContent('body');
  const score = await page.locator('tbody tr').first().textContent();
  check(score.endsWith('221（50%）1（50%）'), `the 案卷评查 score: 2 decisions, 2 recorded, 1 complete, 1 passing (${score})`);
  check(procedure.includes('procedure.art44_notice') && procedure.includes('第44条'), 'the notice alert with its article');
  await page.screenshot({ path: `${shots}/console-procedure.png`, fullPage: true });

  current = 'unknown code';
  response = await page.goto(`${base}/verify/23456789ABCDEFGHJKLM`);
  check(response.status() === 404 && (await page.textContent('h1')) === '未查到此检查', 'an unknown code says so');
} catch (error) {
  console.error(`FAILED ${error.message}`);
  await page.screenshot({ path: `${shots}/failed-${current.replace(/\W+/g, '-')}.png`, fullPage: true });
  await browser.close();
  process.exit(1);
}
await browser.close();
