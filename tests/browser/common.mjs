// What the console's browser scripts share: Chromium launched as the tests run it, a check that
// prints and fails, the English-enum guard and axe-core.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

// English enum names and alert texts that must never reach a page (domain/labels.rs gives each
// a Chinese label).
const ENGLISH = /\b(Reported|Approved|Transferred|Received|Filed|NotFiled|Open|Closed|Unassigned|PossibleCrime|PenaltyInsteadOfReferral|LateDisclosure|Overdue|overdue|did not act|answers lead|case \S+ was penalised)\b/;

/// Headless Chromium (CHROMIUM, default Debian's), a 1280 px page, and the screenshot directory.
export async function start() {
  const shots = process.env.SHOTS || 'target/browser';
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  return { browser, page, shots };
}

/// Checks named after the step `state.current` says.
export function checker(state) {
  return (ok, what) => {
    if (!ok) throw new Error(`${state.current}: ${what}`);
    console.log(`ok  ${state.current}: ${what}`);
  };
}

/// No English enum name or alert text in the page's main part.
export async function chinese(page, check) {
  const text = await page.locator('main').innerText();
  const hit = text.match(ENGLISH);
  check(!hit, `no English enum name or alert text${hit ? ` (found ${hit[0]})` : ''}`);
}

/// axe-core in the page: no serious or critical accessibility violation.
export async function accessible(page, check) {
  await page.addScriptTag({ path: axePath });
  const found = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.nodes.length}): ${v.nodes[0].target.join(' ')}`);
  });
  check(found.length === 0, `axe-core: no serious violation${found.length ? `: ${found.join('; ')}` : ''}`);
}
