// The softphone: the microphone to an agent over the voxbridge WebSocket (PCM16 8 kHz),
// or over WebRTC (Opus) with the same WebSocket carrying the offer, answer and ICE.
import { $, wsURL, keyStore, el, waterfall, replyNode } from './common.js';

const phone = (window.voxPhone = {
  state: 'idle', callSid: '', events: [], levels: [], micLevels: [], heard: [], marksEchoed: 0, clears: 0, turns: [],
  transport: 'ws', startedAt: 0,
});

let ws = null, ctx = null, mic = null, player = null, stream = null, pc = null;
const replies = new Map(); // reply_id -> transcript line
// The page's measurements (tests and latency figures read them) keep the last few minutes.
function keep(list, item, max = 6000) {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

function setState(s, detail = '') {
  phone.state = s;
  $('status').textContent = detail ? `${s}: ${detail}` : s;
  const live = s === 'connecting' || s === 'in call';
  $('call').disabled = live;
  $('hangup').disabled = !live;
  $('mute').disabled = s !== 'in call';
}

function line(kind, node, cls = '') {
  const box = $('transcript');
  const d = el('div', { class: `line ${kind} ${cls}` }, el('span', { class: 'who', text: kind }), node);
  box.append(d);
  box.scrollTop = box.scrollHeight;
  return d;
}

function onEvent(e) {
  keep(phone.events, { ...e, t: performance.now() - phone.startedAt });
  switch (e.kind) {
    case 'speech_started': {
      if (!phone.partial) phone.partial = line('caller', el('span', { text: '…' }), 'partial');
      break;
    }
    case 'partial_transcript': {
      if (!phone.partial) phone.partial = line('caller', el('span'), 'partial');
      phone.partial.lastChild.textContent = e.text;
      break;
    }
    case 'transcript': {
      if (phone.partial) phone.partial.remove();
      phone.partial = null;
      line('caller', el('span', { text: e.text || '(nothing recognised)' }));
      break;
    }
    case 'reply_started':
      replies.set(e.reply_id, line('agent', replyNode(e.text, '', false)));
      break;
    case 'reply_finished': {
      const d = replies.get(e.reply_id);
      if (d && e.interrupted) d.replaceChildren(el('span', { class: 'who', text: 'agent (interrupted)' }),
                                                replyNode(e.text, e.heard, true));
      break;
    }
    case 'barge_in':
      line('note', el('span', { text: `barge-in after ${e.heard_ms} ms: heard "${e.heard}"` }));
      break;
    case 'dtmf':
      line('note', el('span', { text: `key ${e.digit}` }));
      break;
    case 'tool_call':
      line('note', el('span', { text: `tool ${e.name} ${e.ok ? 'ok' : 'failed'}` }));
      break;
    case 'transfer':
      line('note', el('span', { text: `transfer to ${e.target}` }));
      break;
    case 'turn_timed':
      phone.turns.push({ turn: e.turn, stages: e.stages });
      waterfall($('latency'), phone.turns);
      break;
    default:
      break;
  }
}

async function startAudio() {
  ctx = new AudioContext({ latencyHint: 'interactive' });
  await ctx.audioWorklet.addModule('/app/audio-worklet.js');
  stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  });
  player = new AudioWorkletNode(ctx, 'vox-player', { numberOfInputs: 0, outputChannelCount: [1] });
  player.connect(ctx.destination);
  player.port.onmessage = (e) => {
    const m = e.data;
    if (m.type === 'mark') {
      phone.marksEchoed++;
      if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'mark', name: m.name }));
    } else if (m.type === 'level') {
      keep(phone.levels, { t: performance.now() - phone.startedAt, rms: m.rms, queued: m.queued });
      $('level').style.width = `${Math.min(100, m.rms * 400)}%`;
    } else if (m.type === 'played') {
      phone.heard.push(new Int16Array(m.pcm));
    } else if (m.type === 'cleared') {
      phone.clears++;
      phone.events.push({ kind: 'cleared', t: performance.now() - phone.startedAt });
    }
  };
  // The samples the player actually played, kept only when a test asks (voxPhone.record).
  player.port.postMessage({ type: 'capture', on: !!phone.record });
  if (ctx.state !== 'running') await ctx.resume();
}

async function call() {
  $('error').textContent = '';
  $('transcript').textContent = '';
  replies.clear();
  Object.assign(phone, { events: [], levels: [], micLevels: [], heard: [], marksEchoed: 0, clears: 0, turns: [], callSid: '',
                         partial: null, endReason: '', error: '' });
  muted = false;
  $('mute').textContent = 'Mute';
  phone.transport = $('transport').value;
  phone.startedAt = performance.now();
  const key = $('key').value || keyStore.get();
  if ($('key').value) keyStore.set($('key').value);
  setState('connecting');
  try {
    await startAudio();
  } catch (err) {
    setState('idle');
    $('error').textContent = `Microphone: ${err.message}. Allow the microphone for this page and try again.`;
    return;
  }
  const start = { type: 'start', key, agent: $('agent').value, agent_id: $('agent-id').value, voice: $('voice').value };
  if (phone.greeting !== undefined) start.greeting = phone.greeting; // tests set it
  ws = new WebSocket(wsURL('/phone/ws'));
  ws.binaryType = 'arraybuffer';
  ws.onopen = async () => {
    // The microphone at 8 kHz: sent over this socket on the WebSocket transport, and on
    // both metered (phone.micLevels: when the caller stops talking, for latency figures).
    mic = new AudioWorkletNode(ctx, 'vox-mic', { numberOfOutputs: 0 });
    ctx.createMediaStreamSource(stream).connect(mic);
    mic.port.onmessage = (e) => {
      const pcm = new Int16Array(e.data);
      let sum = 0;
      for (const v of pcm) sum += (v / 32768) ** 2;
      keep(phone.micLevels, { t: performance.now() - phone.startedAt, rms: Math.sqrt(sum / pcm.length) });
      if (phone.transport === 'ws' && ws && ws.readyState === 1 && phone.state === 'in call') ws.send(e.data);
    };
    if (phone.transport === 'webrtc') {
      start.transport = 'webrtc';
      ws.send(JSON.stringify(start));
      await startWebRtc();
    } else {
      ws.send(JSON.stringify(start));
    }
  };
  ws.onmessage = (m) => {
    if (typeof m.data !== 'string') {
      player.port.postMessage({ type: 'audio', pcm: m.data }, [m.data]);
      return;
    }
    const msg = JSON.parse(m.data);
    if (msg.type === 'started') {
      phone.callSid = msg.call_sid;
      $('sid').textContent = msg.call_sid;
      setState('in call');
    } else if (msg.type === 'mark') {
      player.port.postMessage({ type: 'mark', name: msg.name });
    } else if (msg.type === 'clear') {
      player.port.postMessage({ type: 'clear' });
    } else if (msg.type === 'event') {
      onEvent(msg);
    } else if (msg.type === 'answer' || msg.type === 'ice') {
      onSignal(msg);
    } else if (msg.type === 'ended') {
      phone.endReason = msg.reason;
    } else if (msg.type === 'error') {
      $('error').textContent = msg.detail;
      phone.error = msg.detail;
    }
  };
  // A WebRTC call's socket carries no audio: pings keep it (and its call) alive.
  const keepAlive = setInterval(() => { if (ws && ws.readyState === 1) ws.send('{"type":"ping"}'); }, 5000);
  ws.onclose = (e) => {
    clearInterval(keepAlive);
    stop();
    setState('ended', phone.endReason || e.reason || `socket closed (${e.code})`);
  };
}

// WebRTC: the offer, answer and ICE candidates travel over the WebSocket; audio is Opus.
async function startWebRtc() {
  pc = new RTCPeerConnection({ iceServers: [] });
  for (const t of stream.getAudioTracks()) pc.addTrack(t, stream);
  pc.ontrack = (e) => {
    const remote = e.streams[0] || new MediaStream([e.track]);
    // Chrome feeds a remote track to Web Audio only while a media element plays it too.
    const sink = el('audio', { class: 'hidden' });
    sink.muted = true;
    sink.srcObject = remote;
    document.body.append(sink);
    sink.play().catch(() => {});
    phone.remoteSink = sink;
    const src = ctx.createMediaStreamSource(remote);
    phone.remote = src;
    // The page hears the remote track directly; its level and samples are measured by a
    // tap worklet the same way as on the WebSocket transport.
    const tap = new AudioWorkletNode(ctx, 'vox-mic', { numberOfOutputs: 0 });
    src.connect(tap);
    src.connect(ctx.destination);
    let sum = 0, n = 0;
    tap.port.onmessage = (m) => {
      const pcm = new Int16Array(m.data);
      if (phone.record) phone.heard.push(pcm);
      for (const s of pcm) { sum += (s / 32768) ** 2; n++; }
      if (n >= 400) {
        const rms = Math.sqrt(sum / n);
        keep(phone.levels, { t: performance.now() - phone.startedAt, rms, queued: 0 });
        $('level').style.width = `${Math.min(100, rms * 400)}%`;
        sum = 0; n = 0;
      }
    };
  };
  pc.onicecandidate = (e) => {
    if (e.candidate && ws && ws.readyState === 1)
      ws.send(JSON.stringify({ type: 'ice', candidate: e.candidate.candidate, sdpMLineIndex: e.candidate.sdpMLineIndex }));
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  ws.send(JSON.stringify({ type: 'offer', sdp: offer.sdp }));
}

async function onSignal(msg) {
  if (!pc) return;
  if (msg.type === 'answer') await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
  else if (msg.type === 'ice' && msg.candidate) await pc.addIceCandidate({ candidate: msg.candidate, sdpMLineIndex: msg.sdpMLineIndex ?? 0 });
}

function stop() {
  if (mic) mic.disconnect();
  if (pc) pc.close();
  if (phone.remoteSink) phone.remoteSink.remove();
  phone.remoteSink = null;
  if (stream) for (const t of stream.getTracks()) t.stop();
  if (ctx) ctx.close();
  mic = player = stream = ctx = pc = null;
}

function hangup() {
  if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'hangup' }));
}

let muted = false;
$('mute').onclick = () => {
  muted = !muted;
  if (mic) mic.port.postMessage({ type: 'mute', on: muted });
  if (stream) for (const t of stream.getAudioTracks()) t.enabled = !muted;
  $('mute').textContent = muted ? 'Unmute' : 'Mute';
};
// Keys pressed on the call reach the agent as on a phone (DTMF).
for (const d of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#']) {
  $('keypad').append(el('button', { class: 'b', type: 'button', text: d, onclick: () => {
    if (ws && ws.readyState === 1 && phone.state === 'in call') ws.send(JSON.stringify({ type: 'dtmf', digit: d }));
  } }));
}
$('call').onclick = call;
$('hangup').onclick = hangup;
$('key').value = keyStore.get();
const params = new URLSearchParams(location.search);
if (params.get('agent') !== null) $('agent').value = params.get('agent');
if (params.get('agent_id')) $('agent-id').value = params.get('agent_id');
if (params.get('transport')) $('transport').value = params.get('transport');
setState('idle');
