// node-media-server as an RTMP server for the tests: `node rtmp_server.mjs PORT` listens on
// 127.0.0.1:PORT and prints "publishing /APP/KEY" when a publisher starts, "stopped /APP/KEY"
// when it leaves.
import NodeMediaServer from 'node-media-server';

const port = Number(process.argv[2]);
const server = new NodeMediaServer({
  logType: 0,
  rtmp: { port, host: '127.0.0.1', chunk_size: 60000, gop_cache: true, ping: 30, ping_timeout: 60 },
});
server.on('postPublish', (id, path) => console.log(`publishing ${path}`));
server.on('donePublish', (id, path) => console.log(`stopped ${path}`));
server.run();
