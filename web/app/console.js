// The console: live calls over /console/ws, one call's live view (transcript, latency
// waterfall, listen-in, controls through the control API), history from the call store,
// and the overview. Every request carries the company key of this tab.
import { $, wsURL, keyStore, el, waterfall, replyNode, ulawDecode } from './common.js';

const API = '/api/v1/elevenlabs-twilio';
const ui = (window.voxConsole = { view: 'live', calls: [], tenant: '', open: false, watching: '', events: [], errors: [] });
let ws = null;

// ---------------------------------------------------------------- the control API
async function api(method, path, body) {
  const headers = { 'X-API-KEY': keyStore.get() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json() : await res.blob();
  if (!res.ok) throw new Error((data && data.detail) || `${res.status}`);
  return data;
}

// ---------------------------------------------------------------- views
function show(view) {
  ui.view = view;
  for (const v of ['live', 'call', 'history', 'overview']) $(`view-${v}`).classList.toggle('hidden', v !== view);
  for (const b of document.querySelectorAll('#nav button')) b.classList.toggle('on', b.dataset.view === view);
  if (view !== 'call') unwatch();
  if (view === 'history') loadHistory(true);
  if (view === 'overview') loadOverview();
}
for (const b of document.querySelectorAll('#nav button')) b.onclick = () => show(b.dataset.view);

function duration(s) {
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

// ---------------------------------------------------------------- the live feed
function connect() {
  ws = new WebSocket(wsURL('/console/ws'));
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', key: keyStore.get() }));
  const keepAlive = setInterval(() => { if (ws && ws.readyState === 1) ws.send('{"type":"ping"}'); }, 30000);
  ws.onmessage = (m) => {
    if (typeof m.data !== 'string') return listenFrame(new Uint8Array(m.data));
    const msg = JSON.parse(m.data);
    if (msg.type === 'hello') signedIn(msg);
    else if (msg.type === 'calls') liveTable(msg.calls, msg.unreachable_instances || []);
    else if (msg.type === 'event') liveEvent(msg);
    else if (msg.type === 'error') {
      ui.errors.push(msg.detail);
      if (msg.detail === 'Invalid API key') {  // revoked or rotated: sign in again, do not retry
        ui.tenant = '';
        ui.open = false;
        signInNeeded(msg.detail);
      } else if (!ui.tenant && !ui.open) signInNeeded(msg.detail);
      else $('control-result').textContent = msg.detail;
    }
  };
  ws.onclose = () => {
    clearInterval(keepAlive);
    ws = null;
    if (ui.tenant || ui.open) setTimeout(connect, 1000); // the server restarted: sign in again
  };
}

function signInNeeded(why) {
  ui.tenant = '';
  $('signin').classList.remove('hidden');
  for (const v of ['live', 'call', 'history', 'overview']) $(`view-${v}`).classList.add('hidden');
  $('signin-error').textContent = keyStore.get() ? why : '';
}

function signedIn(msg) {
  ui.tenant = msg.tenant;
  ui.open = msg.open;
  $('signin').classList.add('hidden');
  $('open-warning').classList.toggle('hidden', !msg.open);
  $('who').textContent = msg.open ? 'open server' : `company: ${msg.tenant}`;
  if (ui.view === 'call' && ui.watching) watch(ui.watching);
  else show(ui.view === 'call' ? 'live' : ui.view);
}

$('signin-form').onsubmit = (e) => {
  e.preventDefault();
  keyStore.set($('key').value.trim());
  if (ws) ws.close();
  else connect();
};

// In a cluster each row names the instance that holds the call; instances that did not
// answer in time are named above the table.
function liveTable(calls, unreachable) {
  ui.calls = calls;
  const missing = unreachable.length ? ` · not answering: ${unreachable.join(', ')}` : '';
  $('live-count').textContent = (calls.length ? `(${calls.length})` : '') + missing;
  $('live-empty').classList.toggle('hidden', calls.length > 0);
  const rows = $('live-rows');
  rows.replaceChildren(...calls.map((c) => el('tr', { class: 'click', 'data-sid': c.call_sid, onclick: () => watch(c.call_sid) },
    el('td', { class: 'mono' }, c.call_sid, ...(c.instance ? [el('span', { class: 'muted', text: ` @${c.instance}` })] : [])),
    el('td', { text: c.from || '–' }), el('td', { text: c.to || '–' }),
    el('td', { text: c.agent_id ? `${c.agent} (${c.agent_id})` : c.agent }), el('td', { text: c.voice_id || 'default' }),
    el('td', {}, el('span', { class: `pill ${c.state}`, text: c.state })), el('td', { text: duration(c.duration_s) }),
    el('td', { text: c.turn }), el('td', { class: 'muted', text: `${c.tts} / ${c.stt}` }),
    el('td', {}, el('span', { class: c.fallbacks + c.stt_failures ? 'pill bad' : 'muted', text: c.fallbacks + c.stt_failures })))));
  if (ui.view === 'call') {
    const c = calls.find((x) => x.call_sid === ui.watching);
    $('call-state').textContent = c ? `${c.state} · ${duration(c.duration_s)}` : 'ended';
    $('call-state').className = `pill ${c ? c.state : ''}`;
  }
}

// ---------------------------------------------------------------- one call, live
const lines = new Map(); // reply_id -> line
let partial = null;
let turns = [];

function tline(kind, node, cls = '', box = $('call-transcript')) {
  const d = el('div', { class: `line ${kind} ${cls}` }, el('span', { class: 'who', text: kind }), node);
  box.append(d);
  box.scrollTop = box.scrollHeight;
  return d;
}

function eventRow(kind, detail, box = $('call-events')) {
  box.append(el('tr', {}, el('td', { class: 'mono', text: new Date().toISOString().slice(11, 19) }),
                el('td', { text: kind }), el('td', { class: 'muted', text: detail })));
}

async function watch(sid) {
  ui.watching = sid;
  ui.events = [];
  turns = [];
  lines.clear();
  partial = null;
  show('call');
  ui.watching = sid;
  $('call-sid').textContent = sid;
  $('call-transcript').textContent = '';
  $('call-events').textContent = '';
  $('control-result').textContent = '';
  const c = ui.calls.find((x) => x.call_sid === sid);
  $('call-meta').textContent = c ? `${c.from || '?'} → ${c.to || '?'} · agent ${c.agent}` : '';
  ws.send(JSON.stringify({ type: 'watch', call_sid: sid }));
  // What happened before the page was watching: from the store.
  try {
    const [tr, lat] = await Promise.all([api('GET', `/calls/${sid}/transcript`), api('GET', `/calls/${sid}/latency`)]);
    const box = $('call-transcript');
    const live = [...box.children];
    box.textContent = '';
    for (const t of tr.turns) {
      if (t.speaker === 'caller') tline('caller', el('span', { text: t.text }));
      else tline('agent', replyNode(t.text, t.heard, t.interrupted));
    }
    box.append(...live.filter((n) => !box.contains(n)));
    turns = lat.turns.map((l) => ({ turn: l.turn, stages: { endpoint: l.endpoint_ms ?? -1, transcript: l.transcript_ms ?? -1,
      agent: l.agent_ms ?? -1, tts_first_byte: l.tts_first_byte_ms ?? -1, gateway: l.gateway_us === null ? -1 : l.gateway_us / 1000,
      response: l.response_ms ?? -1, heard: l.heard_ms ?? -1 } })).concat(turns.filter((t) => !lat.turns.some((l) => l.turn === t.turn)));
    waterfall($('call-latency'), turns);
  } catch (err) {
    $('control-result').textContent = err.message;
  }
  loadVoices();
}

function unwatch() {
  stopListening();
  if (ui.watching && ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'unwatch' }));
  ui.watching = '';
}
$('back').onclick = () => show('live');

function liveEvent(e) {
  if (e.call_sid !== ui.watching) return;
  ui.events.push(e);
  switch (e.kind) {
    case 'speech_started':
      if (!partial) partial = tline('caller', el('span', { text: '(speaking…)' }), 'partial');
      break;
    case 'partial_transcript':
      if (!partial) partial = tline('caller', el('span'), 'partial');
      partial.lastChild.textContent = e.text;
      break;
    case 'transcript':
      if (partial) partial.remove();
      partial = null;
      tline('caller', el('span', { text: e.text || '(nothing recognised)' }));
      break;
    case 'reply_started':
      lines.set(e.reply_id, tline('agent', replyNode(e.text, '', false)));
      break;
    case 'reply_finished': {
      const d = lines.get(e.reply_id);
      // Cut (barge-in or stop): what was queued for listen-in was never heard either.
      if (e.interrupted && player.agent) player.agent.port.postMessage({ type: 'clear' });
      if (d && e.interrupted)
        d.replaceChildren(el('span', { class: 'who', text: 'agent (cut)' }), replyNode(e.text, e.heard, true));
      break;
    }
    case 'barge_in':
      eventRow('barge-in', `after ${e.heard_ms} ms, heard "${e.heard}"`);
      if (player.agent) player.agent.port.postMessage({ type: 'clear' });
      break;
    case 'dtmf':
      tline('note', el('span', { text: `key ${e.digit}` }));
      eventRow('dtmf', e.digit);
      break;
    case 'tool_call':
      tline('note', el('span', { text: `tool ${e.name} ${e.ok ? 'ok' : 'failed'}` }));
      eventRow('tool call', e.name);
      break;
    case 'fallback':
      eventRow('fallback', e.detail);
      break;
    case 'transfer':
      tline('note', el('span', { text: `transferred to ${e.target}${e.handed_over ? '' : ' (not possible here: ended)'}` }));
      eventRow('transfer', e.target);
      break;
    case 'stt_failure':
      eventRow('error', `recognition failed in turn ${e.turn}`);
      break;
    case 'turn_timed':
      turns = turns.filter((t) => t.turn !== e.turn).concat([{ turn: e.turn, stages: e.stages }]);
      waterfall($('call-latency'), turns);
      break;
    case 'ended':
      eventRow('ended', e.reason);
      tline('note', el('span', { text: `call ended: ${e.reason}` }));
      $('call-state').textContent = 'ended';
      stopListening();
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- listen in
const player = { ctx: null, caller: null, agent: null };
async function startListening() {
  player.ctx = new AudioContext({ latencyHint: 'interactive' });
  await player.ctx.audioWorklet.addModule('/app/audio-worklet.js');
  for (const track of ['caller', 'agent']) {
    player[track] = new AudioWorkletNode(player.ctx, 'vox-player', { numberOfInputs: 0, outputChannelCount: [1] });
    player[track].connect(player.ctx.destination);
    player[track].port.onmessage = (m) => {
      if (m.data.type === 'level') ui[`${track}Level`] = m.data.rms;
    };
  }
  ui.listenFrames = 0;
  ws.send(JSON.stringify({ type: 'listen', on: true }));
  $('listen').textContent = 'Stop listening';
  ui.listening = true;
}
function stopListening() {
  if (!ui.listening) return;
  ui.listening = false;
  if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'listen', on: false }));
  if (player.ctx) player.ctx.close();
  Object.assign(player, { ctx: null, caller: null, agent: null });
  $('listen').textContent = 'Listen in';
}
function listenFrame(bytes) {
  const node = bytes[0] === 0 ? player.caller : player.agent;
  if (!node) return;
  ui.listenFrames = (ui.listenFrames || 0) + 1;
  const pcm = new Int16Array(bytes.length - 1);
  for (let i = 1; i < bytes.length; i++) pcm[i - 1] = ulawDecode(bytes[i]);
  node.port.postMessage({ type: 'audio', pcm: pcm.buffer }, [pcm.buffer]);
}
$('listen').onclick = () => (ui.listening ? stopListening() : startListening());

// ---------------------------------------------------------------- controls
async function control(what, fn) {
  $('control-result').textContent = `${what}…`;
  try {
    await fn();
    $('control-result').textContent = `${what}: done`;
    eventRow('control', what);
  } catch (err) {
    $('control-result').textContent = `${what}: ${err.message}`;
  }
}
$('say-form').onsubmit = (e) => {
  e.preventDefault();
  const text = $('say-text').value.trim();
  if (!text) return;
  control('speak', () => api('POST', `/calls/${ui.watching}/stream`, { text }));
  $('say-text').value = '';
};
$('stop').onclick = () => control('stop', () => api('POST', `/calls/${ui.watching}/stop`));
$('hangup').onclick = () => control('hang up', () => api('DELETE', `/calls/${ui.watching}`));
$('voice-form').onsubmit = (e) => {
  e.preventDefault();
  const voice = $('voice').value;
  const q = voice ? `?voice_id=${encodeURIComponent(voice)}` : '';
  control('voice', () => api('POST', `/calls/${ui.watching}/voice${q}`,
                             { speed: Number($('speed').value), stability: Number($('stability').value) }));
};
async function loadVoices() {
  if ($('voice').options.length) return;
  try {
    const list = await api('GET', '/voices');
    const voices = Array.isArray(list) ? list : list.voices || [];
    $('voice').replaceChildren(el('option', { value: '', text: '(keep)' }),
                               ...voices.map((v) => el('option', { value: v.voice_id, text: v.name || v.voice_id })));
  } catch (err) {
    $('voice').replaceChildren(el('option', { value: '', text: '(voices unavailable)' }));
  }
}

// ---------------------------------------------------------------- history
let historyOffset = 0;
async function loadHistory(fresh) {
  if (fresh) {
    historyOffset = 0;
    $('history-rows').textContent = '';
  }
  const p = new URLSearchParams({ limit: '50', offset: String(historyOffset) });
  if ($('h-status').value) p.set('status', $('h-status').value);
  if ($('h-agent').value) p.set('agent_id', $('h-agent').value);
  if ($('h-since').value) p.set('since', $('h-since').value);
  if ($('h-until').value) p.set('until', `${$('h-until').value}T23:59:59.999Z`);
  if ($('h-q').value) p.set('q', $('h-q').value);
  try {
    const page = await api('GET', `/calls?${p}`);
    ui.history = (fresh ? [] : ui.history || []).concat(page.calls);
    historyOffset += page.calls.length;
    $('history-rows').append(...page.calls.map((c) => el('tr', { class: 'click', 'data-sid': c.call_sid, onclick: () => historyCall(c) },
      el('td', { class: 'mono', text: c.call_sid }), el('td', { text: c.created_at.replace('T', ' ').slice(0, 19) }),
      el('td', { text: c.direction }), el('td', { text: c.from_ || '–' }), el('td', { text: c.to || '–' }),
      el('td', { text: c.agent_id || '–' }), el('td', {}, el('span', { class: 'pill', text: c.status })))));
    $('h-more').disabled = !page.has_more;
    $('h-count').textContent = `${ui.history.length} call(s)`;
  } catch (err) {
    $('h-count').textContent = err.message;
  }
}
$('history-form').onsubmit = (e) => {
  e.preventDefault();
  loadHistory(true);
};
$('h-more').onclick = () => loadHistory(false);

async function historyCall(c) {
  const sid = c.call_sid;
  $('history-call').classList.remove('hidden');
  $('hc-sid').textContent = sid;
  $('hc-meta').textContent = `${c.status} · ${c.direction} · ${c.created_at}`;
  for (const id of ['hc-transcript', 'hc-latency', 'hc-latency-rows', 'hc-events', 'hc-recording']) $(id).textContent = '';
  let tr, lat, ev;
  try {
    [tr, lat, ev] = await Promise.all([api('GET', `/calls/${sid}/transcript`), api('GET', `/calls/${sid}/latency`),
                                       api('GET', `/calls/${sid}/events`)]);
  } catch (err) {
    $('hc-meta').textContent = `${sid}: ${err.message}`;
    return;
  }
  const box = $('hc-transcript');
  box.textContent = '';
  for (const t of tr.turns) {
    if (t.speaker === 'caller') tline('caller', el('span', { text: t.text }), '', box);
    else tline('agent', replyNode(t.text, t.heard, t.interrupted), '', box);
  }
  const ms = (v) => (v === null || v === undefined ? '–' : `${v}`);
  $('hc-latency-rows').replaceChildren(...lat.turns.map((l) => el('tr', {}, ...[l.turn, ms(l.endpoint_ms), ms(l.transcript_ms),
    ms(l.agent_ms), ms(l.tts_first_byte_ms), l.gateway_us === null ? '–' : (l.gateway_us / 1000).toFixed(2), ms(l.response_ms),
    ms(l.heard_ms)].map((v) => el('td', { class: 'mono', text: v })))));
  waterfall($('hc-latency'), lat.turns.map((l) => ({ turn: l.turn, stages: { endpoint: l.endpoint_ms ?? -1,
    transcript: l.transcript_ms ?? -1, agent: l.agent_ms ?? -1, tts_first_byte: l.tts_first_byte_ms ?? -1,
    gateway: l.gateway_us === null ? -1 : l.gateway_us / 1000, response: l.response_ms ?? -1, heard: l.heard_ms ?? -1 } })));
  $('hc-events').replaceChildren(...ev.events.map((e) => el('tr', {}, el('td', { class: 'mono', text: e.at.slice(11, 19) }),
    el('td', { text: e.kind }), el('td', { class: 'muted', text: e.detail }))));
  $('hc-recording').textContent = '';
  try {
    const wav = await api('GET', `/calls/${sid}/recording`);
    const audio = el('audio', { controls: '' });
    audio.src = URL.createObjectURL(wav);
    $('hc-recording').append(audio);
  } catch (err) {
    $('hc-recording').append(el('span', { class: 'muted', text: err.message }));
  }
}

// ---------------------------------------------------------------- overview
async function loadOverview() {
  try {
    const o = await api('GET', '/overview');
    ui.overview = o;
    const last10 = o.turns_per_minute.slice(-10).reduce((a, b) => a + b, 0) / 10;
    $('ov-active').textContent = o.active_calls;
    $('ov-calls').textContent = o.calls;
    $('ov-tpm').textContent = last10.toFixed(1);
    $('ov-p50').textContent = o.response_ms.p50 === null ? '–' : `${o.response_ms.p50} ms`;
    $('ov-p99').textContent = o.response_ms.p99 === null ? '–' : `${o.response_ms.p99} ms`;
    $('ov-fallbacks').textContent = o.fallbacks;
    $('ov-errors').textContent = o.errors;
    $('ov-barge').textContent = o.barge_ins;
    const c = $('ov-spark'), g = c.getContext('2d');
    g.clearRect(0, 0, c.width, c.height);
    const max = Math.max(1, ...o.turns_per_minute), w = c.width / 60;
    g.fillStyle = '#2563eb';
    o.turns_per_minute.forEach((n, i) => {
      const h = ((c.height - 4) * n) / max;
      g.fillRect(i * w + 1, c.height - h, w - 2, h);
    });
  } catch (err) {
    $('ov-active').textContent = err.message;
  }
  clearTimeout(overviewTimer);  // one refresh loop, however often the view is opened
  if (ui.view === 'overview') overviewTimer = setTimeout(() => ui.view === 'overview' && loadOverview(), 10000);
}
let overviewTimer = 0;

connect();
