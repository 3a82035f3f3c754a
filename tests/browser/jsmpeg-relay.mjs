// The peer relaysink must work with: the JSMpeg project's websocket-relay.js, as picam_livestream
// and JSMpeg's README run it — our model of its behaviour, not its code (which is not on npm).
// What the model keeps, because a camera pushing to it meets exactly this:
// - Node's own http server with its defaults: it answers `Expect: 100-continue` by itself, and
//   ends any request after `requestTimeout` (300 s since Node 18) with 408;
// - a POST to /SECRET, the secret being the first path segment; a wrong one is logged and
//   answered at once with an empty 200 — and, as there, the stream is still relayed;
// - every chunk of the request body broadcast as one WebSocket message to every client (`ws`
//   from npm, no permessage-deflate), with no queue limit.
//
//   node jsmpeg-relay.mjs SECRET [STREAM_PORT WEBSOCKET_PORT]   (0: any; prints the ports)
// REQUEST_TIMEOUT_MS in the environment shortens Node's requestTimeout (to test its 408).
import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';

const [secret, streamPort = '8081', wsPort = '8082'] = process.argv.slice(2);
if (!secret) {
  console.log('usage: node jsmpeg-relay.mjs SECRET [STREAM_PORT WEBSOCKET_PORT]');
  process.exit(2);
}

const sockets = new WebSocketServer({ host: '127.0.0.1', port: Number(wsPort),
                                      perMessageDeflate: false });
const broadcast = (data) => {
  for (const client of sockets.clients)
    if (client.readyState === WebSocket.OPEN) client.send(data);
};

const options = process.env.REQUEST_TIMEOUT_MS
  ? { requestTimeout: Number(process.env.REQUEST_TIMEOUT_MS), connectionsCheckingInterval: 250 }
  : {};
const streams = http.createServer(options, (request, response) => {
  const from = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
  if (request.url.slice(1).split('/')[0] !== secret) {
    console.log(`Failed Stream Connection: ${from} - wrong secret.`);
    response.end();
  }
  response.socket.setTimeout(0);
  console.log(`Stream Connected: ${from}`);
  request.on('data', broadcast);
  request.on('end', () => console.log('close'));
});

let listening = 0;
const ready = () => {
  if (++listening < 2) return;
  console.log(`listening stream=${streams.address().port} websocket=${sockets.address().port}`);
};
sockets.on('listening', ready);
streams.listen(Number(streamPort), '127.0.0.1', ready);
process.on('SIGTERM', () => process.exit(0));
