// The pages of jsmpegsink: JSMpeg (MPEG-TS) or the legacy jsmpg.js (jsmp protocol) on a canvas,
// with a small overlay. Neither player is ours: both come from npm at build time and are served
// beside this file. `window.camcast` holds the stats, an `onFrameShown(canvas)` hook and, once
// the sound is on, the AnalyserNode it goes through (`analyser`).
export function startJsmpegPage({ mode }) {
  const base = location.pathname.replace(/\/+$/, '');
  const params = new URLSearchParams(location.search);
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${base}`;
  const canvas = document.getElementById('video');
  const overlay = document.getElementById('stats');
  const stats = { frames: 0, fps: 0, width: 0, height: 0, reconnects: 0, audioFrames: 0,
                  muted: true };
  const page = { mode, stats, canvas, player: null, onFrameShown: null, analyser: null };
  window.camcast = page;

  const frameShown = () => {
    stats.frames++;
    if (page.onFrameShown) page.onFrameShown(canvas);
  };

  // npm's jsmpg.js ends with `module.exports = jsmpeg`, for CommonJS: give it something to set.
  if (mode === 'jsmp' && !('module' in window)) window.module = { exports: {} };
  const script = document.createElement('script');
  script.src = `${base}/${mode === 'jsmp' ? 'jsmpg.js' : 'jsmpeg.min.js'}`;
  script.onload = () => (mode === 'jsmp' ? startLegacy() : startJsmpeg());
  script.onerror = () => {
    overlay.textContent = 'This camcast was built without the JSMpeg players: run npm install ' +
      'in its web/ directory (.ci/setup does) and rebuild.';
  };
  document.head.appendChild(script);

  const showSoundButton = soundButton(page);

  function startJsmpeg() {
    page.player = new JSMpeg.Player(url, {
      canvas,
      audio: params.get('audio') !== '0',
      disableGl: params.get('gl') === '0',
      reconnectInterval: 1,
      onVideoDecode: frameShown,
      onAudioDecode: () => {
        stats.audioFrames++;
        showSoundButton();
      },
    });
    page.player.volume = 0;  // muted until the sound button
  }

  // jsmpg.js neither reconnects nor takes a new picture size: start a new one when the socket
  // closes or the server sends a jsmp header with another size.
  function startLegacy() {
    const ws = new WebSocket(url);
    let size = null;
    ws.addEventListener('message', (event) => {
      const b = new Uint8Array(event.data);
      if (b.length !== 8 || String.fromCharCode(b[0], b[1], b[2], b[3]) !== 'jsmp') return;
      const next = `${b[4] * 256 + b[5]}x${b[6] * 256 + b[7]}`;
      if (size !== null && next !== size) ws.close();
      size = next;
    });
    ws.addEventListener('close', () => {
      stats.reconnects++;
      setTimeout(startLegacy, 1000);
    });
    // eslint-disable-next-line new-cap
    page.player = new jsmpeg(ws, { canvas, forceCanvas2D: params.get('gl') === '0',
      ondecodeframe: frameShown });
  }

  showStats(page, overlay);
}

// MP2 in the stream: a sound button, since browsers play sound only after the viewer asks
// (JSMpeg's AudioContext starts suspended; iPhones need its unlock too). Muted until then.
// Returns what shows the button (when the first audio frame is decoded).
function soundButton(page) {
  const { stats, canvas } = page;
  let button = null;
  const setMuted = (muted) => {
    const out = page.player && page.player.audioOut;
    if (!out) return;
    stats.muted = muted;
    page.player.volume = muted ? 0 : 1;
    if (!muted) {
      out.context.resume();
      if (out.unlock && !out.unlocked) out.unlock(() => {});
      if (!page.analyser) {
        page.analyser = out.context.createAnalyser();
        page.analyser.fftSize = 2048;
        out.gain.connect(page.analyser);
      }
    }
    button.textContent = muted ? '🔇 Sound off — tap to listen' : '🔊 Sound on';
  };
  return () => {
    if (button) return;
    button = document.createElement('button');
    button.className = 'camcast-sound';
    button.textContent = '🔇 Sound off — tap to listen';
    button.addEventListener('click', () => setMuted(!stats.muted));
    canvas.parentElement.appendChild(button);
  };
}

// The overlay: size, rate, player and sound, once a second.
function showStats(page, overlay) {
  const { stats, canvas, mode } = page;
  let lastFrames = 0;
  setInterval(() => {
    stats.fps = stats.frames - lastFrames;
    lastFrames = stats.frames;
    stats.width = canvas.width;
    stats.height = canvas.height;
    const sound = stats.audioFrames ? (stats.muted ? ' · sound muted' : ' · sound on') : '';
    const player = mode === 'jsmp' ? 'jsmpg.js' : 'JSMpeg';
    overlay.textContent = stats.frames
      ? `${stats.width}×${stats.height} · ${stats.fps} fps · ${player}${sound}`
      : 'waiting for video…';
  }, 1000);
}
