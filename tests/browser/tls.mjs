// The console over the gateway's TLS listener in headless Chromium holding an agency's client
// certificate (playwright-core's clientCertificates). Run by tests/it/browser.rs with:
//   BASE_URL  https://127.0.0.1:<gRPC port>
//   CERT, KEY the agency's certificate and key (PEM; 330106-SFJ, 西湖区's coordinator)
//   CHROMIUM, SHOTS as for console.mjs; ORG_HERE / ORG_THERE: leads in 330106 and 330102
// (the server certificate comes from the development CA: HTTPS errors are ignored)
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL;
const shots = process.env.SHOTS || 'target/browser';
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const context = await browser.newContext({
  ignoreHTTPSErrors: true,
  clientCertificates: [{ origin: base, certPath: process.env.CERT, keyPath: process.env.KEY }],
});
const page = await context.newPage();
let current = 'tls';
function check(ok, what) {
  if (!ok) throw new Error(`${current}: ${what}`);
  console.log(`ok  ${current}: ${what}`);
}
try {
  current = 'leads over TLS';
  const response = await page.goto(`${base}/leads`);
  check(response.status() === 200, 'GET /leads answers 200 with the agency certificate');
  const body = await page.textContent('tbody');
  check(body.includes(process.env.ORG_HERE), 'the county coordinator sees its county');
  check(!body.includes(process.env.ORG_THERE), 'and not the other county');
  current = 'no impersonation';
  const other = await page.goto(`${base}/leads?as=330100-SFJ`);
  check(other.status() === 403, '?as= naming another agency is refused');
} catch (error) {
  console.error(`FAILED ${error.message}`);
  await page.screenshot({ path: `${shots}/failed-tls.png`, fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
