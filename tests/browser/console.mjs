// The coordinator console in headless Chromium (Debian's chromium, driven by playwright-core).
// Run by tests/it/browser.rs, which starts the broker with data and passes:
//   BASE_URL     the console, e.g. http://127.0.0.1:40123
//   CHROMIUM     the browser executable (default /usr/bin/chromium)
//   SHOTS        where screenshots go (on failure: the page that failed; always: the overview and
//                the referral pipeline; the README's come from demo.mjs)
//   ORG_CITY     a subject with events of two agencies in 西湖区 (330106)
//   ORG_OTHER    a subject whose lead is in 上城区 (330102)
// Prints one line per check; exits non-zero on the first failure.
import { accessible as axe, checker, chinese as guard, start } from './common.mjs';

const base = process.env.BASE_URL;
const orgCity = process.env.ORG_CITY;
const orgOther = process.env.ORG_OTHER;
const { browser, page, shots } = await start();
const state = { current: 'start' };
const check = checker(state);

async function open(path, name) {
  state.current = name;
  const response = await page.goto(base + path);
  check(response.status() === 200, `GET ${path} answers 200`);
}

const rows = () => page.locator('tbody tr').count();

const chinese = () => guard(page, check);
const accessible = () => axe(page, check);

try {
  await open('/?as=330100-SFJ', 'overview');
  const text = await page.textContent('body');
  check(text.includes('办理中'), 'lead counts are shown');
  await page.waitForSelector('.chart[data-drawn] canvas');
  const drawn = await page.locator('.chart[data-drawn]').count();
  check(drawn >= 3, `ECharts drew the charts on canvases (${drawn})`);
  const series = await page.evaluate(() =>
    echarts.getInstanceByDom(document.querySelector('.chart')).getOption().series.length);
  check(series >= 1, `the events chart has a series (${series})`);
  await chinese();
  await accessible();
  // A click on the first bar of the domain chart opens the leads board for that domain and day.
  const point = await page.evaluate(() => {
    const el = document.querySelector('.chart');
    const chart = echarts.getInstanceByDom(el);
    const data = chart.getOption().series[0].data;
    const index = data.findIndex((v) => v > 0);
    const [x, y] = chart.convertToPixel({ seriesIndex: 0 }, [index, data[index] / 2]);
    const box = el.getBoundingClientRect();
    return { x: box.left + x, y: box.top + y };
  });
  await Promise.all([page.waitForURL(/\/leads\?domain=\w+&from=/), page.mouse.click(point.x, point.y)]);
  check((await rows()) >= 1, `the bar opened the filtered leads board (${page.url().replace(base, '')})`);

  await open('/leads?as=330100-SFJ', 'leads board');
  const all = await rows();
  await page.fill('input[name=division]', '330102');
  await Promise.all([page.waitForLoadState('load'), page.click('button')]);
  await page.waitForURL(/division=330102/);
  const filtered = await rows();
  check(all >= 2 && filtered >= 1 && filtered < all, `filtering by division changes the rows (${all} → ${filtered})`);
  await chinese();
  await accessible();
  // Sorting by a column, both ways.
  await open('/leads?as=330100-SFJ', 'leads board sorted');
  await Promise.all([page.waitForURL(/sort=3/), page.click('thead th:nth-child(4) a')]);
  const up = await page.locator('tbody tr td:nth-child(4)').allTextContents();
  await Promise.all([page.waitForURL(/desc=1/), page.click('thead th:nth-child(4) a')]);
  const down = await page.locator('tbody tr td:nth-child(4)').allTextContents();
  check(up.length >= 2 && JSON.stringify(up) === JSON.stringify([...down].reverse()),
    `sorting by 当事人 either way (${up.join(', ')})`);
  // The export downloads an XLSX file (tests/it/browser.rs reads it back).
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=导出 Excel')]);
  await download.saveAs(`${shots}/leads-export.xlsx`);
  check(download.suggestedFilename().endsWith('.xlsx'), `the export downloads ${download.suggestedFilename()}`);

  await open(`/subject?id=${orgCity}&as=330100-SFJ`, 'subject file');
  const agencies = await page.locator('tbody tr td:nth-child(2)').allTextContents();
  check(new Set(agencies).size >= 2, `events of two agencies (${[...new Set(agencies)].join(', ')})`);

  await open('/referrals?as=330100-SFJ', 'referral pipeline');
  const overdue = page.locator('.deadline.overdue').first();
  check((await overdue.count()) === 1, 'an overdue referral is shown');
  const colour = await overdue.evaluate((el) => getComputedStyle(el).color);
  check(colour === 'rgb(179, 38, 30)', `it is red (${colour})`);
  await chinese();
  await accessible();
  await page.screenshot({ path: `${shots}/console-referrals.png`, fullPage: true });

  // Its file, as printed: the case, its documents' digests, its steps; no navigation on paper.
  await Promise.all([page.waitForURL(/\/referrals\/file\?key=/), page.click('.card a')]);
  state.current = 'referral file';
  await page.emulateMedia({ media: 'print' });
  const file = await page.locator('main').innerText();
  check(file.includes('材料') && /[0-9a-f]{64}/.test(file) && file.includes('办理经过'),
    'the file lists its documents with SHA-256 and its history');
  check(!(await page.locator('header.top').isVisible()), 'the navigation is not printed');
  await page.pdf({ path: `${shots}/referral-file.pdf`, format: 'A4' });
  await page.emulateMedia({ media: 'screen' });
  await chinese();
  await accessible();

  await open('/stats?as=330100-SFJ', 'statistics');
  check((await page.locator('.chart[data-drawn]').count()) === 1, 'the trend chart is drawn');
  check((await page.textContent('main')).includes('反馈及时率'), 'the rates are shown');
  await chinese();
  await accessible();

  await open('/alerts?as=330100-SFJ', 'alerts');
  await chinese();
  await accessible();

  await open('/leads?as=330106-SFJ', 'jurisdiction');
  const county = await page.textContent('tbody');
  check(!county.includes(orgOther), "西湖区's coordinator does not see 上城区's lead");

  await open('/public/penalties', 'public feed');
  const feed = await page.textContent('body');
  check(!/\d{17}[\dX]/.test(feed.replace(/9[0-9A-Z]{17}/g, '')), 'no 身份证号 on the page');
  check(feed.includes('张*'), "a person's name is masked");
} catch (error) {
  console.error(`FAILED ${error.message}`);
  await page.screenshot({ path: `${shots}/failed-${state.current.replace(/\W+/g, '-')}.png`, fullPage: true });
  await browser.close();
  process.exit(1);
}
await browser.close();
