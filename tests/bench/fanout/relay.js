// The peer: the JSMpeg project's relay model (websocket-relay.js) — a Node `ws` server that
// broadcasts every chunk to every client, with no per-client queue limit. Instead of receiving
// the chunks by HTTP POST it makes them itself, exactly like bench-fanout-server: fixed-size
// frames at FPS, each starting with the CLOCK_MONOTONIC time (process.hrtime) and the index.
//
//   node relay.js PORT BITRATE_BPS FPS
const WebSocket = require('ws');

const [port, bitrate, fps] = process.argv.slice(2).map(Number);
const frameSize = Math.floor(bitrate / 8 / fps);
const server = new WebSocket.Server({ host: '127.0.0.1', port, perMessageDeflate: false });

// websocket-relay.js: socketServer.broadcast = data => clients.forEach(c => c.send(data))
server.broadcast = function (data) {
  server.clients.forEach(function each(client) {
    if (client.readyState === WebSocket.OPEN) client.send(data);
  });
};

let index = 0n;
const intervalNs = BigInt(Math.round(1e9 / fps));
let next = process.hrtime.bigint();
function tick() {
  const frame = Buffer.alloc(frameSize, Number(index & 0xffn));
  frame.writeBigUInt64LE(process.hrtime.bigint(), 0);
  frame.writeBigUInt64LE(index, 8);
  index++;
  server.broadcast(frame);
  next += intervalNs;
  const wait = Number(next - process.hrtime.bigint()) / 1e6;
  setTimeout(tick, Math.max(0, wait));
}
server.on('listening', () => {
  console.log(`ready port=${port} frame=${frameSize} bytes`);
  tick();
});
process.on('SIGTERM', () => process.exit(0));
