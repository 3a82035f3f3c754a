// Preloaded (node -r) into JSMpeg's websocket-relay.js for the 408 test: Node's http servers end
// a request after REQUEST_TIMEOUT_MS instead of its 300 s default, checking every 250 ms. The
// relay's own code runs unchanged.
const http = require('http');

const createServer = http.createServer;
http.createServer = (listener) => createServer({
  requestTimeout: Number(process.env.REQUEST_TIMEOUT_MS),
  connectionsCheckingInterval: 250,
}, listener);
