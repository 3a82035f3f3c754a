// The rungs of a stream served as a ladder (several renditions of one camera, rung 0 the top):
// the server moves each viewer between them as its link allows, and the viewer may pin one. A
// stream description with a `ladder` names the rung it is and every rung's size; a new
// description for another rung of the same stream is a move, which the backends follow without
// starting over (mse.js: a new init segment in the same SourceBuffer; WebCodecs: the decoder
// configured anew).

// Whether a message is padding: an ISO BMFF 'free' box the server sends now and then to a
// viewer below the top rung, a burst whose delivery shows whether its link has room for more.
export function isPadding(bytes) {
  return bytes.byteLength >= 8 && bytes[4] === 0x66 && bytes[5] === 0x72 && bytes[6] === 0x65 &&
    bytes[7] === 0x65;
}

// Whether `next` describes another rung of the stream `current` describes.
export function isMove(current, next) {
  return Boolean(current && current.ladder && next.ladder) && current.format === next.format &&
    Boolean(current.audio) === Boolean(next.audio) && current.rung !== next.rung;
}

// "720p": a rung by its height.
export function rungName(rung) {
  return `${rung.height}p`;
}

// The rung picker: "auto" (the server chooses) or a rung to stay on, sent to the server as the
// text message "rung N" / "rung auto". `pinned`: a rung asked for from the start (?rung=N).
export class LadderControl {
  constructor(player, container, pinned = null) {
    this.player = player;
    this.pinned = pinned;
    this.select = document.createElement('select');
    this.select.className = 'camcast-rung';
    this.select.title = 'Picture size: auto follows your connection';
    this.select.hidden = true;
    this.select.addEventListener('change', () => {
      this.pinned = this.select.value === 'auto' ? null : Number(this.select.value);
      this.send();
    });
    container.appendChild(this.select);
  }

  // A stream description: the picker lists its ladder (none: hidden).
  describe(info) {
    const ladder = info.ladder || [];
    this.select.hidden = ladder.length < 2;
    const options = [['auto', 'Auto']].concat(ladder.map((r) => [String(r.rung), rungName(r)]));
    if (this.select.options.length !== options.length) {
      this.select.replaceChildren(...options.map(([value, text]) => new Option(text, value)));
    }
    this.select.value = this.pinned === null ? 'auto' : String(this.pinned);
  }

  // An endpoint's URL with the rung to stay on from the start (?rung=N), where one is chosen: the
  // server starts the viewer there (after a reconnect too).
  url(endpoint) {
    if (this.pinned === null) return String(endpoint);
    const url = new URL(endpoint, location.href);
    url.searchParams.set('rung', this.pinned);
    return url.href;
  }

  // Tells the server a choice made while connected.
  send() {
    const ws = this.player.ws;
    if (ws && ws.readyState === WebSocket.OPEN)
      ws.send(this.pinned === null ? 'rung auto' : `rung ${this.pinned}`);
  }
}
