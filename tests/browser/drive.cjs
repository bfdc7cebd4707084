// Drives tests/browser/player.html in Debian's Chromium (headless, through
// puppeteer-core from $PF_BROWSER_DIR) for tests/it_browser_*.sh.  Run it
// inside the test's network namespace (only `lo`): Chromium's background
// requests then go nowhere.
//
//   node drive.cjs URL [--throttle CMD] [--unthrottle CMD] [--seek S]
//                      [--steady S] [--switch-timeout S]
//
// 1. open URL; wait until the video plays (currentTime advances past
//    --steady seconds, default 8) at the player's top level (the player
//    climbs there on its own throughput estimate);
// 2. run CMD (--throttle: the test slows what the player sees) and wait for
//    the player to switch down, by its own events (hls.js LEVEL_SWITCHED,
//    dash.js QUALITY_CHANGE_RENDERED);
// 3. run --unthrottle, seek (video.currentTime = S): wait for `seeked` and
//    for playback to go on 2 s past S.
// Prints one JSON summary on stdout (every event included); exits 0 when
// the page ran (the test judges the numbers), 1 on a driver failure.
'use strict';
const path = require('path');
const { execSync } = require('child_process');
const dir = process.env.PF_BROWSER_DIR;
if (!dir) { console.error('drive: PF_BROWSER_DIR unset'); process.exit(1); }
const puppeteer = require(path.join(dir, 'node_modules', 'puppeteer-core'));

const argv = process.argv.slice(2);
const url = argv.shift();
const opt = { throttle: null, unthrottle: null, seek: 20, steady: 8, 'switch-timeout': 30 };
while (argv.length) {
  const k = argv.shift().replace(/^--/, '');
  if (!(k in opt)) { console.error('drive: unknown option ' + k); process.exit(2); }
  opt[k] = argv.shift();
}
const T0 = Date.now();
const log = (...a) => console.error(`[drive ${((Date.now() - T0) / 1000).toFixed(2)}s]`, ...a);
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function waitFor(page, what, fn, timeoutS, arg) {
  const end = Date.now() + timeoutS * 1000;
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    if (Date.now() > end) {
      const st = await page.evaluate(() => window.pf && window.pf.state());
      throw new Error(`timed out after ${timeoutS}s waiting for ${what}; state ${JSON.stringify(st)}`);
    }
    await sleep(200);
  }
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.PF_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
           '--autoplay-policy=no-user-gesture-required', '--no-first-run',
           '--disable-background-networking', '--disable-component-update',
           '--disable-default-apps', '--disable-sync', '--mute-audio'],
  });
  const out = { url, phases: {} };
  let page;
  try {
    page = await browser.newPage();
    page.on('console', m => log('console.' + m.type() + ':', m.text()));
    page.on('pageerror', e => log('pageerror:', e.message));
    page.on('requestfailed', r => log('requestfailed:', r.url(), r.failure() && r.failure().errorText));
    await page.goto(url, { waitUntil: 'load', timeout: 20000 });
    await waitFor(page, 'the player script', () => window.pf && (window.pf.ready || window.pf.error), 20);
    const err = await page.evaluate(() => window.pf.error);
    if (err) throw new Error('player page: ' + err);
    out.version = await page.evaluate(() => window.pf.version);
    log(`${await page.evaluate(() => window.pf.lib)} ${out.version} loaded`);

    // 1. playback at the top level
    const steady = Number(opt.steady);
    await waitFor(page, `currentTime > ${steady}`, s => window.pf.state().currentTime > s, 40, steady);
    await waitFor(page, 'the top level', () => {
      const s = window.pf.state();
      return s.levels.length > 0 && s.level === s.levels.length - 1;
    }, 30);
    out.phases.steady = await page.evaluate(() => ({ state: window.pf.state(), events: window.pf.events.length }));
    log('playing at the top level:', JSON.stringify(out.phases.steady.state));

    // 2. throttled: the player must go down
    if (opt.throttle) {
      const n0 = out.phases.steady.events;
      log('throttling: ' + opt.throttle);
      execSync(opt.throttle, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 20000 });
      const tThrottle = Date.now();
      await waitFor(page, 'a switch down', n => window.pf.events.slice(n).some(e =>
        (e.type === 'hls.LEVEL_SWITCHED' || e.type === 'dash.QUALITY_CHANGE_RENDERED') &&
        e.from >= 0 && e.level < e.from), Number(opt['switch-timeout']), n0);
      out.phases.switched = { after_s: (Date.now() - tThrottle) / 1000,
                              state: await page.evaluate(() => window.pf.state()) };
      log(`switched down ${out.phases.switched.after_s}s after throttling:`, JSON.stringify(out.phases.switched.state));
      if (opt.unthrottle) {
        log('unthrottling: ' + opt.unthrottle);
        execSync(opt.unthrottle, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 20000 });
      }
    }

    // 3. seek
    const to = Number(opt.seek);
    const nSeek = await page.evaluate(() => window.pf.events.length);
    const tSeek = Date.now();
    await page.evaluate(s => { document.getElementById('v').currentTime = s; }, to);
    await waitFor(page, 'seeked', n => window.pf.events.slice(n).some(e => e.type === 'video.seeked'), 20, nSeek);
    const seekedS = (Date.now() - tSeek) / 1000;
    await waitFor(page, `playback past ${to + 2}s`, s => window.pf.state().currentTime > s, 20, to + 2);
    out.phases.seek = { to, seeked_s: seekedS, resumed_s: (Date.now() - tSeek) / 1000,
                        state: await page.evaluate(() => window.pf.state()) };
    log(`seek to ${to}: seeked after ${seekedS}s, playing past ${to + 2} after ${out.phases.seek.resumed_s}s`);
    out.events = await page.evaluate(() => window.pf.events);
    out.ok = true;
  } catch (e) {
    out.ok = false;
    out.error = String(e && e.message || e);
    log('FAILED: ' + out.error);
    try { out.events = await page.evaluate(() => window.pf && window.pf.events); } catch (e2) { /* gone */ }
  }
  await browser.close();
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(out.ok ? 0 : 1);
})().catch(e => { console.error('drive: ' + (e && e.stack || e)); process.exit(1); });
