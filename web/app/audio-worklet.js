// Audio worklets of the softphone and the console (loaded with audioWorklet.addModule).
//
// vox-mic:    the microphone at the context's rate -> low-pass -> 8 kHz PCM16, posted to
//             the page as 20 ms frames (ArrayBuffer of 320 bytes).
// vox-player: 8 kHz PCM16 in (any length), played at the context's rate. Marks queued
//             between chunks are posted back when playback reaches them, so the server
//             knows what was heard; "clear" drops what is queued and returns its marks
//             (as Twilio does). Reports the output level every 50 ms, and (when asked)
//             the 8 kHz samples actually played.
const OUT_RATE = 8000;
const FRAME = 160; // 20 ms at 8 kHz

// Windowed-sinc low-pass taps for decimating `rate` to 8 kHz (cut-off 3.6 kHz).
function lowpass(rate, taps) {
  const fc = 3600 / rate;
  const h = new Float32Array(taps);
  const m = (taps - 1) / 2;
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const x = i - m;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (taps - 1)); // Hamming
    h[i] = sinc * w;
    sum += h[i];
  }
  for (let i = 0; i < taps; i++) h[i] /= sum;
  return h;
}

class VoxMic extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / OUT_RATE; // input samples per output sample
    this.taps = lowpass(sampleRate, 63);
    this.hist = new Float32Array(this.taps.length); // recent input, a ring
    this.pos = 0; // ring write position
    this.phase = 0; // input samples until the next output sample
    this.frame = new Int16Array(FRAME);
    this.n = 0;
    this.muted = false;
    this.port.onmessage = (e) => {
      if (e.data && e.data.type === 'mute') this.muted = !!e.data.on;
    };
  }
  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    const taps = this.taps, hist = this.hist, len = taps.length;
    for (let i = 0; i < input.length; i++) {
      hist[this.pos] = this.muted ? 0 : input[i];
      this.pos = (this.pos + 1) % len;
      this.phase -= 1;
      if (this.phase <= 0) {
        this.phase += this.step;
        let acc = 0;
        for (let k = 0, j = this.pos; k < len; k++) {
          acc += taps[k] * hist[j];
          j = j + 1 === len ? 0 : j + 1;
        }
        const s = Math.max(-1, Math.min(1, acc));
        this.frame[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff;
        if (this.n === FRAME) {
          const out = this.frame.slice(0);
          this.port.postMessage(out.buffer, [out.buffer]);
          this.n = 0;
        }
      }
    }
    return true;
  }
}

class VoxPlayer extends AudioWorkletProcessor {
  constructor() {
    super();
    this.chunks = []; // {pcm: Float32Array | null, mark: string | null}
    this.off = 0; // read position (8 kHz samples, fractional) in chunks[0]
    this.step = OUT_RATE / sampleRate; // 8 kHz samples per output sample
    this.last = 0; // the previous 8 kHz sample (for interpolation)
    this.capture = false;
    this.captured = [];
    this.levelEvery = Math.round(sampleRate / 20);
    this.levelN = 0;
    this.levelSum = 0;
    this.played = 0; // 8 kHz samples played, in all
    this.port.onmessage = (e) => this.message(e.data);
  }
  message(m) {
    if (m.type === 'audio') {
      const pcm = new Int16Array(m.pcm);
      const f = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) f[i] = pcm[i] / 32768;
      this.chunks.push({ pcm: f, mark: null });
    } else if (m.type === 'mark') {
      this.chunks.push({ pcm: null, mark: m.name });
      this.drainMarks();
    } else if (m.type === 'clear') {
      for (const c of this.chunks) if (c.mark !== null) this.port.postMessage({ type: 'mark', name: c.mark });
      this.chunks = [];
      this.off = 0;
      this.port.postMessage({ type: 'cleared' });
    } else if (m.type === 'capture') {
      this.capture = !!m.on;
    }
  }
  // Marks at the head of the queue have been reached.
  drainMarks() {
    while (this.chunks.length && this.chunks[0].mark !== null) {
      this.port.postMessage({ type: 'mark', name: this.chunks[0].mark });
      this.chunks.shift();
      this.off = 0;
    }
  }
  process(_inputs, outputs) {
    const out = outputs[0][0];
    const got = [];
    for (let i = 0; i < out.length; i++) {
      this.drainMarks();
      let v = 0;
      if (this.chunks.length) {
        const c = this.chunks[0];
        const idx = Math.floor(this.off);
        const frac = this.off - idx;
        const a = c.pcm[idx];
        const b = idx + 1 < c.pcm.length ? c.pcm[idx + 1] : a;
        v = a + (b - a) * frac;
        const before = Math.floor(this.off);
        this.off += this.step;
        if (Math.floor(this.off) !== before) {
          this.played += 1;
          if (this.capture) got.push(a);
        }
        if (this.off >= c.pcm.length) {
          this.off -= c.pcm.length;
          this.chunks.shift();
          if (!this.chunks.length || this.chunks[0].pcm === null) this.off = 0;
        }
      }
      out[i] = v;
      this.levelSum += v * v;
      if (++this.levelN === this.levelEvery) {
        this.port.postMessage({ type: 'level', rms: Math.sqrt(this.levelSum / this.levelN), played: this.played,
                                queued: this.queuedSamples() });
        this.levelN = 0;
        this.levelSum = 0;
      }
    }
    for (let k = 1; k < outputs[0].length; k++) outputs[0][k].set(out);
    if (got.length) {
      const pcm = new Int16Array(got.length);
      for (let i = 0; i < got.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(got[i] * 32768)));
      this.port.postMessage({ type: 'played', pcm: pcm.buffer }, [pcm.buffer]);
    }
    return true;
  }
  queuedSamples() {
    let n = -Math.floor(this.off);
    for (const c of this.chunks) if (c.pcm) n += c.pcm.length;
    return Math.max(0, n);
  }
}

registerProcessor('vox-mic', VoxMic);
registerProcessor('vox-player', VoxPlayer);
