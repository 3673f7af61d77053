// Shared by the console and the phone pages.
export const $ = (id) => document.getElementById(id);

export function wsURL(path) {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
}

// The company key lives in this tab's session storage only.
export const keyStore = {
  get: () => sessionStorage.getItem('voxbridge.key') || '',
  set: (k) => sessionStorage.setItem('voxbridge.key', k),
  clear: () => sessionStorage.removeItem('voxbridge.key'),
};

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

// G.711 μ-law byte -> linear PCM16.
export function ulawDecode(u) {
  u = ~u & 0xff;
  const sign = u & 0x80, exp = (u >> 4) & 7, man = u & 0x0f;
  const s = (((man << 3) + 0x84) << exp) - 0x84;
  return sign ? -s : s;
}

// The stages of a turn's latency, in the order they happen (ms; -1 = not reached).
export const STAGES = [
  ['endpoint', 'endpoint', '#94a3b8'],
  ['transcript', 'transcript', '#60a5fa'],
  ['agent', 'agent', '#a78bfa'],
  ['tts_first_byte', 'TTS first byte', '#f59e0b'],
  ['gateway', 'gateway', '#10b981'],
  ['heard', 'heard', '#ef4444'],
];

// Draws one bar per turn: each stage a segment after the previous one, to scale.
export function waterfall(container, turns) {
  container.textContent = '';
  if (!turns.length) {
    container.append(el('div', { class: 'muted', text: 'No timed turns yet.' }));
    return;
  }
  const total = (t) => STAGES.reduce((a, [k]) => a + Math.max(0, t.stages[k] ?? -1), 0);
  const max = Math.max(1, ...turns.map(total));
  const grid = el('div', { class: 'wf' });
  for (const t of turns) {
    const bar = el('div', { class: 'bar' });
    let at = 0;
    for (const [k, name, color] of STAGES) {
      const v = t.stages[k] ?? -1;
      if (v < 0) continue;
      const seg = el('div', { class: 'seg', title: `${name}: ${v.toFixed(1)} ms` });
      seg.style.left = `${(100 * at) / max}%`;
      seg.style.width = `${Math.max(0.5, (100 * v) / max)}%`;
      seg.style.background = color;
      bar.append(seg);
      at += v;
    }
    const resp = t.stages.response >= 0 ? t.stages.response : total(t);
    grid.append(el('span', { class: 'muted', text: `turn ${t.turn}` }), bar,
                el('span', { class: 'mono', text: `${Math.round(resp)} ms` }));
  }
  container.append(grid);
  const legend = el('div', { class: 'legend' });
  for (const [, name, color] of STAGES) {
    const i = el('i');
    i.style.background = color;
    legend.append(el('span', {}, i, name));
  }
  container.append(legend);
}

// An agent reply with what was heard kept and the rest struck through.
export function replyNode(text, heard, interrupted) {
  const span = el('span');
  if (!interrupted) {
    span.textContent = text;
    return span;
  }
  const h = heard || '';
  const n = text.startsWith(h) ? h.length : 0;
  span.append(el('mark', { class: 'heard', text: text.slice(0, n) || h }));
  const rest = text.slice(n);
  if (rest) span.append(el('s', { text: rest }));
  return span;
}
