// The softphone in a real browser (Debian's chromium, headless), its microphone a WAV
// file: the page's spoken line reaches the agent and is transcribed, the reply is heard
// in the page (its level over time, and what the embedded recognizer hears in the audio
// the page actually played), and the caller talking over a reply cuts it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, startServer, micWav, launchBrowser, until, heardSamples, transcribe, screenshot, VOICE } from './support.mjs';

const PHRASES = ['i would like some coffee', 'what time is it', 'hello there'];
const LONG_GREETING = 'Hello and welcome. This is a long announcement about our opening hours, our prices and our ' +
  'many services, and it goes on for quite a while so that you can interrupt it at any time.';
const TRANSPORTS = (process.env.VOX_PHONE_TRANSPORTS || 'ws').split(',');

async function withPhone(t, { greeting, line, agent = 'echo', transport }, body) {
  const dir = tempDir();
  const grammar = join(dir.path, 'phrases.txt');
  writeFileSync(grammar, PHRASES.join('\n') + '\n');
  // A short media timeout: a WebRTC call's socket is quiet for longer than this (its audio
  // goes over WebRTC), and the call must go on. A company call limit: every start waits for
  // its admission (a WebRTC offer that comes meanwhile waits with it).
  const server = await startServer(['--stt-mode', 'grammar', '--stt-grammar', grammar, '--tts-voice', VOICE,
                                    '--agent', agent, '--media-timeout', '3', '--max-calls-per-company', '4'], dir.path);
  const browser = await launchBrowser(micWav(dir.path, 'mic', line, 2.5, 40));
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${server.url}/phone?agent=${agent}&transport=${transport}`);
    await page.evaluate((g) => { window.voxPhone.greeting = g; window.voxPhone.record = true; }, greeting);
    await page.click('#call');
    await until(() => page.evaluate(() => window.voxPhone.state === 'in call'), 10000, 'the call to start');
    await body({ page, server, dir: dir.path });
    assert.deepEqual(problems, [], 'no script errors in the page');
    await page.click('#hangup');
    await until(() => page.evaluate(() => window.voxPhone.state.startsWith('ended')), 10000, 'the call to end');
  } catch (e) {
    t.diagnostic(server.log().slice(-4000));
    throw e;
  } finally {
    await browser.close();
    const status = await server.stop();
    assert.deepEqual(status, { code: 0, sig: null }, `the server stopped cleanly:\n${server.log().slice(-3000)}`);
    dir.remove();
  }
}

const events = (page) => page.evaluate(() => window.voxPhone.events);

for (const transport of TRANSPORTS) {
  test(`phone over ${transport}: the page's line reaches the agent and its reply is heard in the page`, async (t) => {
    await withPhone(t, { greeting: '', line: 'i would like some coffee', transport }, async ({ page, server, dir }) => {
      const finished = await until(async () => (await events(page)).find(
        (e) => e.kind === 'reply_finished' && e.text.startsWith('You said')), 30000, 'the echo to be played');
      const evs = await events(page);
      const said = evs.find((e) => e.kind === 'transcript');
      assert.equal(said.text, 'i would like some coffee');
      assert.equal(finished.text, 'You said: i would like some coffee');
      assert.equal(finished.interrupted, false);
      // Heard: the level rose while the reply played, and the recognizer hears the echo
      // in the samples the page's player actually played.
      const started = evs.find((e) => e.kind === 'reply_started').t;
      const levels = await page.evaluate(() => window.voxPhone.levels);
      const loud = levels.filter((l) => l.t >= started && l.t <= finished.t + 200 && l.rms > 0.02);
      assert.ok(loud.length >= 10, `the reply was audible for at least 0.5 s (${loud.length} loud 50 ms windows)`);
      const before = levels.filter((l) => l.t < started - 100 && l.rms > 0.02);
      assert.equal(before.length, 0, 'silence before the reply (no greeting)');
      const heard = await heardSamples(page);
      const text = transcribe(dir, 'heard', heard, PHRASES.map((p) => `you said ${p}`));
      assert.equal(text, 'you said i would like some coffee');
      const timed = evs.find((e) => e.kind === 'turn_timed');
      assert.ok(timed && timed.stages.response > 0, 'the turn was timed');
      await page.waitForSelector('#latency .wf');
      // The call is a call like any other: in the store with its own sid and direction.
      const sid = await page.evaluate(() => window.voxPhone.callSid);
      assert.match(sid, /^WB[0-9a-f]{32}$/);
      const res = await fetch(`${server.url}/api/v1/elevenlabs-twilio/calls/${sid}`);
      const info = await res.json();
      assert.equal(res.status, 200);
      assert.equal(info.direction, 'browser');
      assert.equal(info.status, 'in-progress');
      await screenshot(page, `phone-${transport}`);
    });
  });

  test(`phone over ${transport}: talking over the greeting cuts it within a frame, with the words heard`, async (t) => {
    await withPhone(t, { greeting: LONG_GREETING, line: 'what time is it', transport }, async ({ page }) => {
      const cut = await until(async () => (await events(page)).find((e) => e.kind === 'barge_in'), 30000, 'a barge-in');
      const evs = await until(async () => {
        const all = await events(page);
        return all.some((e) => e.kind === 'reply_finished' && e.reply_id === cut.reply_id) && all;
      }, 5000, 'the greeting to be reported cut');
      const greeting = evs.find((e) => e.kind === 'reply_finished' && e.reply_id === cut.reply_id);
      assert.equal(greeting.interrupted, true);
      const words = (s) => s.toLowerCase().split(/[^a-z']+/).filter(Boolean);
      const heard = words(greeting.heard), all = words(LONG_GREETING);
      assert.ok(heard.length > 0 && heard.every((w, i) => all[i] === w), `heard "${greeting.heard}" is the greeting's beginning`);
      assert.ok(greeting.heard.length < LONG_GREETING.length / 2, 'most of the greeting was not heard');
      const answered = await until(async () => (await events(page)).find(
        (e) => e.kind === 'transcript' && e.text === 'what time is it'), 20000, 'the caller\'s line to be transcribed');
      const next = await until(async () => (await events(page)).find(
        (e) => e.kind === 'reply_started' && e.reply_id !== cut.reply_id), 10000, 'the answer to start');
      if (transport === 'ws') {
        // The page's player dropped the rest at once: silence from the next 50 ms window on,
        // until the answer to what the caller said starts.
        const cleared = (await events(page)).find((e) => e.kind === 'cleared');
        assert.ok(cleared, 'the server told the page to clear its queue');
        assert.ok(cleared.t - cut.t < 100, `cleared ${cleared.t - cut.t} ms after the barge-in event`);
        const levels = await page.evaluate(() => window.voxPhone.levels);
        const after = levels.filter((l) => l.t > cleared.t + 60 && l.t < next.t);
        assert.ok(after.length >= 10, `level windows between the clear and the answer (${after.length})`);
        assert.ok(after.every((l) => l.rms < 0.005 && l.queued === 0), 'nothing of the greeting played after the clear');
      }
      assert.ok(answered.t > cut.t, 'transcribed after the barge-in');
    });
  });
}
