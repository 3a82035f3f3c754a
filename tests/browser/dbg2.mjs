import { launchBrowser } from './lib.mjs';
const b = await launchBrowser();
for (let run = 0; run < 3; run++) {
const p = await b.newPage();
await p.addInitScript(() => {
  window.marks = [];
  const mark = (what) => window.marks.push([what, Math.round(performance.now())]);
  const F = window.fetch;
  window.fetch = async (...a) => { mark('fetch ' + (a[1] && a[1].method)); const r = await F(...a); mark('fetch done ' + r.status); return r; };
  const P = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...a) {
    const pc = new P(...a); mark('pc');
    pc.addEventListener('icegatheringstatechange', () => mark('gather ' + pc.iceGatheringState));
    pc.addEventListener('iceconnectionstatechange', () => mark('ice ' + pc.iceConnectionState));
    pc.addEventListener('connectionstatechange', () => mark('conn ' + pc.connectionState));
    pc.addEventListener('track', () => mark('track'));
    return pc;
  };
  const hook = setInterval(() => { if (window.camcast && window.camcast.stats.framesShown > 0) { mark('first frame'); clearInterval(hook); } }, 2);
});
await p.goto(process.argv[2]);
await p.waitForTimeout(3000);
console.log(JSON.stringify(await p.evaluate(() => window.marks)));
await p.close();
}
await b.close();
