// Browser-to-agent reply latency, per transport (bench/browser_latency.sh runs this).
// Each run: a fresh server with the echo agent, Chromium's fake microphone saying one
// line, the page measuring when the line ended (its microphone level) and when the reply
// became audible (its player's level), and the server's own stage split of the turn.
// Prints one JSON object: per transport, the medians and every run.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, startServer, micWav, launchBrowser, until, VOICE } from './support.mjs';

const runs = Number(process.argv[2] || 5);
const transports = (process.argv[3] || 'ws,webrtc').split(',');
const LINE = 'i would like some coffee';
// The server's CPU time so far, in ms (utime + stime from /proc, in clock ticks of 10 ms).
const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const median = (v) => {
  const s = v.filter((x) => x >= 0).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};

async function one(transport) {
  const dir = tempDir();
  const grammar = join(dir.path, 'phrases.txt');
  writeFileSync(grammar, `${LINE}\nhello there\n`);
  const server = await startServer(['--stt-mode', 'grammar', '--stt-grammar', grammar, '--tts-voice', VOICE, '--agent', 'echo'], dir.path);
  const browser = await launchBrowser(micWav(dir.path, 'mic', LINE, 2.5, 30));
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/phone?agent=echo&transport=${transport}`);
    await page.evaluate(() => { window.voxPhone.greeting = ''; });
    await page.click('#call');
    await until(() => page.evaluate(() => window.voxPhone.state === 'in call'), 20000, 'the call');
    const cpu0 = cpuMs(server.pid), t0 = Date.now();
    const timed = await until(() => page.evaluate(() => window.voxPhone.events.find((e) => e.kind === 'turn_timed')), 30000, 'a timed turn');
    await until(() => page.evaluate(() => window.voxPhone.events.some((e) => e.kind === 'reply_finished')), 30000, 'the reply');
    const { mic, levels, transcriptAt } = await page.evaluate(() => ({
      mic: window.voxPhone.micLevels, levels: window.voxPhone.levels,
      transcriptAt: window.voxPhone.events.find((e) => e.kind === 'transcript').t,
    }));
    // The line ended at the last loud microphone frame before the transcript came back;
    // the reply was heard from the first loud player window after it.
    const spoke = mic.filter((l) => l.t < transcriptAt && l.rms > 0.01);
    const ended = spoke.length ? spoke[spoke.length - 1].t : -1;
    const heard = levels.find((l) => l.t > ended && l.rms > 0.01);
    // Ten more seconds of the call (the caller silent) for the server's CPU per call-second.
    const tEnd = Date.now() + 10000;
    await until(() => Date.now() >= tEnd, 15000, 'ten more seconds', 500);
    const cpu_ms_per_s = Math.round((100 * (cpuMs(server.pid) - cpu0)) / ((Date.now() - t0) / 1000)) / 100;
    await page.click('#hangup');
    return { page_ms: heard && ended >= 0 ? Math.round(heard.t - ended) : -1, cpu_ms_per_s, stages: timed.stages };
  } finally {
    await browser.close();
    await server.stop();
    dir.remove();
  }
}

const out = {};
for (const t of transports) {
  const all = [];
  for (let i = 0; i < runs; i++) all.push(await one(t));
  const stage = (k) => median(all.map((r) => r.stages[k]));
  out[t] = {
    runs: all.length,
    median_ms: {
      page_end_of_speech_to_reply_heard: median(all.map((r) => r.page_ms)),
      server_cpu_ms_per_call_second: median(all.map((r) => r.cpu_ms_per_s)),
      endpoint: stage('endpoint'), transcript: stage('transcript'), agent: stage('agent'),
      tts_first_byte: stage('tts_first_byte'), gateway: stage('gateway'), response: stage('response'), heard: stage('heard'),
    },
    all,
  };
}
console.log(JSON.stringify(out, null, 2));
