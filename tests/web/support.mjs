// What the browser tests share: the real voxbridge binary on a free loopback port, WAV
// files for Chromium's fake microphone, Debian's chromium launched headless through
// puppeteer-core, and the embedded recognizer to hear what the page played.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const here = dirname(fileURLToPath(import.meta.url));
export const BINARY = process.env.VOX_BINARY || join(here, '../../build/voxbridge');
export const CHROMIUM = process.env.VOX_CHROMIUM || '/usr/bin/chromium';
export const VOICE = 'en-us+Alex';
// Saved screenshots (the README's come from here).
export const SHOTS = process.env.VOX_SCREENSHOTS || join(here, '../../build/screenshots');

export function tempDir() {
  const d = mkdtempSync(join(tmpdir(), 'vox-browser-'));
  return { path: d, remove: () => rmSync(d, { recursive: true, force: true }) };
}

// Resolves when `check()` returns a truthy value (polled on `every` ms), else rejects
// after `ms` with `what`: waiting for a condition, not sleeping a fixed time.
export async function until(check, ms, what, every = 50) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// `voxbridge serve` on a free port; `stop()` ends it (SIGTERM) and waits.
export async function startServer(args, dir) {
  const portFile = join(dir, 'port');
  const log = [];
  // Overload control stays off (as in the C++ end-to-end tests): a browser starting beside
  // the server on a busy CI machine lags its loop past any production threshold.
  const proc = spawn(BINARY, ['serve', '--host', '127.0.0.1', '--port', '0', '--port-file', portFile,
                              '--store', join(dir, 'calls.db'), '--shed-lag-ms', '0', ...args],
                     { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => log.push(d.toString()));
  proc.stderr.on('data', (d) => log.push(d.toString()));
  let exited = null;
  proc.on('exit', (code, sig) => { exited = { code, sig }; });
  const port = await until(() => {
    if (exited) throw new Error(`voxbridge exited (${JSON.stringify(exited)}):\n${log.join('')}`);
    if (!existsSync(portFile)) return 0;
    return parseInt(readFileSync(portFile, 'utf8'), 10) || 0;
  }, 30000, 'the server to listen');
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: proc.pid,
    log: () => log.join(''),
    // Stops it (SIGTERM) and returns its exit status: 0, unless a sanitizer complained.
    stop: async () => {
      if (!exited) proc.kill('SIGTERM');
      await until(() => exited, 30000, 'the server to stop');
      return exited;
    },
  };
}

// 16-bit PCM mono WAV bytes.
export function wavBytes(samples, rate) {
  const b = Buffer.alloc(44 + samples.length * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + samples.length * 2, 4); b.write('WAVE', 8);
  b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(samples.length * 2, 40);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i], 44 + 2 * i);
  return b;
}

function readWav(path) {
  const b = readFileSync(path);
  let off = 12, rate = 8000, data = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4), size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') rate = b.readUInt32LE(off + 12);
    if (id === 'data') data = b.subarray(off + 8, off + 8 + size);
    off += 8 + size + (size & 1);
  }
  const s = new Int16Array(data.length / 2);
  for (let i = 0; i < s.length; i++) s[i] = data.readInt16LE(2 * i);
  return { rate, samples: s };
}

// The fake microphone: `lead` s of silence, `text` spoken by espeak-ng (voxbridge say),
// then `tail` s of silence, at 48 kHz (Chromium loops the file).
export function micWav(dir, name, text, lead = 2, tail = 40) {
  const spoken = join(dir, `${name}-8k.wav`);
  execFileSync(BINARY, ['say', text, '-o', spoken, '--voice', VOICE], { stdio: 'ignore' });
  const { rate, samples } = readWav(spoken);
  const out = new Int16Array(Math.round((lead + tail) * 48000 + (samples.length * 48000) / rate));
  const at = Math.round(lead * 48000);
  const n = Math.floor((samples.length * 48000) / rate);
  for (let i = 0; i < n; i++) {
    // Linear interpolation 8 kHz -> 48 kHz (the page's low-pass takes it back to 8 kHz).
    const x = (i * rate) / 48000, k = Math.floor(x), f = x - k;
    const a = samples[k], b = k + 1 < samples.length ? samples[k + 1] : a;
    out[at + i] = Math.round(a + (b - a) * f);
  }
  const path = join(dir, `${name}.wav`);
  writeFileSync(path, wavBytes(out, 48000));
  return path;
}

// What the embedded recognizer hears in 8 kHz `samples`, against the phrases in `grammar`.
export function transcribe(dir, name, samples, grammar) {
  const wav = join(dir, `${name}.wav`);
  writeFileSync(wav, wavBytes(samples, 8000));
  const args = ['transcribe', wav, '--json'];
  if (grammar) {
    const g = join(dir, `${name}.grammar`);
    writeFileSync(g, grammar.join('\n') + '\n');
    args.push('--grammar', g);
  }
  return JSON.parse(execFileSync(BINARY, args, { encoding: 'utf8' })).text;
}

export async function launchBrowser(micFile) {
  const args = ['--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
                '--autoplay-policy=no-user-gesture-required', '--disable-gpu', '--no-first-run',
                '--disable-features=Translate,MediaRouter,WebRtcHideLocalIpsWithMdns', '--allow-loopback-in-peer-connection',
                '--window-size=1280,900'];
  if (micFile) args.push(`--use-file-for-fake-audio-capture=${micFile}`);
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args, defaultViewport: { width: 1280, height: 900 } });
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

// The page's heard audio (8 kHz PCM16 chunks) as one array.
export async function heardSamples(page) {
  const parts = await page.evaluate(() => window.voxPhone.heard.map((a) => Array.from(a)));
  return Int16Array.from(parts.flat());
}
