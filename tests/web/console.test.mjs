// The console in a real browser: calls placed by the simulated caller (as Twilio would)
// appear live for their own company only; one call's transcript and latency waterfall
// fill in; "speak text" is heard by the caller (its recognizer transcribes it), listen-in
// plays the call's audio in the page, "hang up" ends the call; history and overview
// read the call store.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tempDir, startServer, launchBrowser, until, screenshot, BINARY, VOICE } from './support.mjs';

const KEYS = { acme: 'acme-key-0000001', globex: 'globex-key-000001' };
const GREETING = 'Hello and welcome. Please say something.';
const SPOKEN = 'thank you for calling';
const API = '/api/v1/elevenlabs-twilio';

function sid() { return `CA${randomBytes(16).toString('hex')}`; }

async function register(server, company, callSid) {
  const res = await fetch(`${server.url}${API}/calls/incoming`, {
    method: 'POST', headers: { 'X-API-KEY': KEYS[company], 'Content-Type': 'application/json' },
    body: JSON.stringify({ call_sid: callSid, from_number: company === 'acme' ? '+15550001000' : '+15550002000', to_number: '+15559990000' }),
  });
  assert.ok(res.ok, `registering ${callSid}: ${res.status} ${await res.text()}`);
}

// The simulated caller: says its line, then stays on the line until the call ends.
function caller(server, dir, callSid, line) {
  const out = join(dir, `${callSid}.json`);
  const args = ['sim', 'caller', '--url', server.url, '--call-sid', callSid, '--say', line, '--idle-after-ms', '60000',
                '--expect', GREETING, '--expect', `You said: ${line}`, '--expect', SPOKEN];
  const proc = spawn(BINARY, [...args, '--json-out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let exited = false, err = '';
  proc.stderr.on('data', (d) => { err += d; });
  proc.on('exit', () => { exited = true; });
  return { proc, exited: () => exited, result: () => JSON.parse(readFileSync(out, 'utf8')), err: () => err };
}

test('console: live calls per company, one call live, speak, listen in, hang up, history and overview', async (t) => {
  const dir = tempDir();
  const grammar = join(dir.path, 'phrases.txt');
  writeFileSync(grammar, ['hello there', 'what time is it'].join('\n') + '\n');
  process.env.VOX_API_KEYS = `acme:${KEYS.acme},globex:${KEYS.globex}`;
  const server = await startServer(['--stt-mode', 'grammar', '--stt-grammar', grammar, '--tts-voice', VOICE,
                                    '--agent', 'echo', '--greeting', GREETING, '--relaxed-call-sids'], dir.path);
  delete process.env.VOX_API_KEYS;
  const ours = sid(), theirs = sid();
  await register(server, 'acme', ours);
  await register(server, 'globex', theirs);
  const a = caller(server, dir.path, ours, 'hello there');
  const b = caller(server, dir.path, theirs, 'what time is it');
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${server.url}/console`);

    // A wrong key is refused; acme's key shows acme's call and never globex's.
    await page.waitForSelector('#signin:not(.hidden)');
    await page.type('#key', 'not-a-key-at-all');
    await page.click('#signin-form button');
    await until(() => page.evaluate(() => document.getElementById('signin-error').textContent.includes('Invalid')), 5000, 'the refusal');
    await page.evaluate(() => { document.getElementById('key').value = ''; });
    await page.type('#key', KEYS.acme);
    await page.click('#signin-form button');
    await page.waitForSelector(`tr[data-sid="${ours}"]`, { timeout: 20000 });
    const live = await page.evaluate(() => window.voxConsole.calls.map((c) => c.call_sid));
    assert.deepEqual(live, [ours], 'acme sees its own call only');
    assert.equal(await page.evaluate(() => window.voxConsole.tenant), 'acme');
    await screenshot(page, 'console-live');

    // globex's call cannot be watched from acme's console, even by naming it.
    const refused = await page.evaluate((s) => new Promise((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/console/ws`);
      ws.onopen = () => { ws.send(JSON.stringify({ type: 'auth', key: sessionStorage.getItem('voxbridge.key') }));
                          ws.send(JSON.stringify({ type: 'watch', call_sid: s })); };
      ws.onmessage = (m) => { const msg = JSON.parse(m.data); if (msg.type === 'error' || msg.type === 'watching') { ws.close(); resolve(msg); } };
    }), theirs);
    assert.equal(refused.type, 'error');
    assert.match(refused.detail, /not found/i);

    // The call, live: the caller's line and the echo, and the turn's latency waterfall.
    await page.click(`tr[data-sid="${ours}"]`);
    await until(() => page.evaluate(() => {
      const lines = [...document.querySelectorAll('#call-transcript .line')].map((l) => l.textContent);
      return lines.some((l) => l.includes('hello there') && l.startsWith('caller')) &&
             lines.some((l) => l.includes('You said: hello there'));
    }), 30000, 'the transcript to fill in');
    await page.waitForSelector('#call-latency .wf .seg', { timeout: 20000 });
    const stages = await page.evaluate(() => [...document.querySelectorAll('#call-latency .wf .seg')].map((s) => s.title));
    assert.ok(stages.some((s) => s.startsWith('transcript:')) && stages.some((s) => s.startsWith('heard:')), stages.join(', '));

    // Listen in, then speak text into the call: the page receives both tracks, the caller hears it.
    await page.click('#listen');
    await until(() => page.evaluate(() => window.voxConsole.listenFrames > 20), 10000, 'the caller\'s audio in the page');
    await page.type('#say-text', SPOKEN);
    await page.click('#say-form button');
    await until(() => page.evaluate((t) => [...document.querySelectorAll('#call-transcript .line.agent')]
      .some((l) => l.textContent.includes(t)), SPOKEN), 10000, 'the spoken text in the transcript');
    await until(() => page.evaluate(() => (window.voxConsole.agentLevel || 0) > 0.01), 10000, 'the agent heard in the page');
    await screenshot(page, 'console-call');

    // Wait until it has been heard (the reply finished), then hang up from the console.
    await until(() => page.evaluate((t) => window.voxConsole.events.some((e) => e.kind === 'reply_finished' && e.text === t), SPOKEN),
                15000, 'the spoken text to be played');
    await page.click('#hangup');
    await until(() => a.exited(), 15000, 'the caller to be hung up on');
    const heard = a.result().results[0].heard.map((h) => h.transcript);
    assert.ok(heard.includes(SPOKEN.toLowerCase()) || heard.some((h) => h.toLowerCase() === SPOKEN), `the caller heard: ${JSON.stringify(heard)}`);
    await until(() => page.evaluate((s) => !window.voxConsole.calls.some((c) => c.call_sid === s), ours), 5000, 'the row to go');
    const info = await (await fetch(`${server.url}${API}/calls/${ours}`, { headers: { 'X-API-KEY': KEYS.acme } })).json();
    assert.equal(info.status, 'completed');

    // History: the call is found by a word of its transcript; globex's is not listed.
    await page.click('#nav button[data-view="history"]');
    await page.type('#h-q', 'hello');
    await page.click('#history-form button');
    await page.waitForSelector(`#history-rows tr[data-sid="${ours}"]`, { timeout: 5000 });
    assert.deepEqual(await page.evaluate(() => window.voxConsole.history.map((c) => c.call_sid)), [ours]);
    await page.click(`#history-rows tr[data-sid="${ours}"]`);
    await page.waitForSelector('#hc-latency-rows tr', { timeout: 5000 });
    await screenshot(page, 'console-history');

    // Overview: the call's turns are counted for acme.
    await page.click('#nav button[data-view="overview"]');
    await until(() => page.evaluate(() => window.voxConsole.overview), 5000, 'the overview');
    const ov = await page.evaluate(() => window.voxConsole.overview);
    assert.equal(ov.calls, 1, 'acme placed one call');
    assert.ok(ov.turns >= 1 && ov.response_ms.p50 > 0, JSON.stringify(ov));
    await screenshot(page, 'console-overview');
    assert.deepEqual(problems, []);
  } catch (e) {
    t.diagnostic(server.log().slice(-5000));
    t.diagnostic(a.err().slice(-2000));
    throw e;
  } finally {
    a.proc.kill();
    b.proc.kill();
    await browser.close();
    const status = await server.stop();
    assert.deepEqual(status, { code: 0, sig: null }, `the server stopped cleanly:\n${server.log().slice(-3000)}`);
    dir.remove();
  }
});
