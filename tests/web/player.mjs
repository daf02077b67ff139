// The server's web page in headless Chromium: type a text, click Play, and check that audio
// data arrives and playback starts (the page's AudioContext runs and its clock advances) while
// the response is still streaming. Keeps a screenshot. Run by scripts/test_web.sh:
//
//   node tests/web/player.mjs http://127.0.0.1:PORT target/web-player.png
import { chromium } from "playwright-core";

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error("usage: node player.mjs BASE_URL SCREENSHOT.png");
  process.exit(2);
}

const fail = (message) => {
  console.error(`web player: ${message}`);
  process.exitCode = 1;
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.log(`page: ${m.text()}`));
  page.on("pageerror", (e) => fail(`page error: ${e}`));
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.querySelector("#voice").options.length > 0);
  const text =
    "Hello from the browser. This paragraph is streamed while it is made, so playback " +
    "starts with the first chunk. The rest arrives while the first words are playing, " +
    "and the page shows how long the first audio took.";
  await page.fill("#text", text);
  await page.click("#play");
  await page.waitForFunction(() => window.player.ttfaMs !== null, null, { timeout: 30000 });
  const first = await page.evaluate(() => ({
    ttfaMs: window.player.ttfaMs,
    bytes: window.player.bytes,
    state: window.player.state,
    audio: window.player.ctx && window.player.ctx.state,
  }));
  // Playback has started: the audio clock moves while chunks are scheduled.
  await page.waitForFunction(() => window.player.ctx && window.player.ctx.currentTime > 0.25, null, {
    timeout: 15000,
  });
  // The word being heard is highlighted by the audio clock: catch it mid-sentence, check that
  // the clock is inside the highlighted word, and keep a screenshot of it.
  await page.waitForFunction(
    () => window.player.now !== null && window.player.ctx.currentTime > 1.0,
    null,
    { timeout: 30000 },
  );
  const heard = await page.evaluate(() => ({
    t: window.player.ctx.currentTime,
    word: window.player.now.word,
    at: window.player.now.at,
    until: window.player.now.until,
    shown: document.querySelector("#words .now") && document.querySelector("#words .now").textContent,
  }));
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-words.png"), fullPage: true });
  console.log(JSON.stringify({ heard }));
  // One animation frame (~17 ms) may pass between the highlight and the clock read.
  if (!(heard.at - 0.05 <= heard.t && heard.t < heard.until + 0.05)) {
    fail(`"${heard.word}" (${heard.at.toFixed(3)}..${heard.until.toFixed(3)} s) is highlighted at ${heard.t.toFixed(3)} s`);
  }
  if (heard.shown !== heard.word) fail(`the page highlights "${heard.shown}", the clock says "${heard.word}"`);
  await page.waitForFunction(() => window.player.state === "done", null, { timeout: 60000 });
  const done = await page.evaluate(() => ({
    ttfaMs: window.player.ttfaMs,
    totalMs: window.player.totalMs,
    bytes: window.player.bytes,
    chunks: window.player.chunks,
    shown: document.querySelector("#ttfa").textContent,
    words: window.player.words.map((w) => w.word),
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ first, done }));
  if (first.audio !== "running") fail(`the AudioContext is ${first.audio}, not running`);
  if (first.state !== "playing") fail(`state at first audio was ${first.state}`);
  const seconds = done.bytes / 2 / 22050;
  if (seconds < 5 || seconds > 40) fail(`${seconds.toFixed(2)} s of audio for the paragraph`);
  if (done.chunks < 2) fail(`audio came in ${done.chunks} chunk(s): not streamed`);
  if (!(done.ttfaMs < done.totalMs)) fail("first audio did not come before the end");
  if (!/^\d+ ms$/.test(done.shown)) fail(`the page shows "${done.shown}" as time to first audio`);
  const expected = text.split(/\s+/).map((t) => t.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "")).filter(Boolean);
  if (done.words.join(" ") !== expected.join(" ")) {
    fail(`words marked: ${done.words.join(" ")}; expected ${expected.join(" ")}`);
  }
  console.log(
    `web player: first audio after ${done.ttfaMs.toFixed(0)} ms, all ${seconds.toFixed(2)} s ` +
      `after ${done.totalMs.toFixed(0)} ms in ${done.chunks} chunks, ${done.words.length} words ` +
      `highlighted by the clock; screenshots ${screenshot} and *-words.png`,
  );
} finally {
  await browser.close();
}
