// Reading camcast's fragmented MP4: the init segment (for the avcC record WebCodecs needs) and
// fragments ([prft] moof mdat) of at most one video frame and the audio frames that came with it
// (track 1 video, track 2 audio). Only what the player uses; sizes are checked, so a damaged
// message throws instead of reading past its end.

const text = new TextDecoder();

function u32(view, pos) {
  return view.getUint32(pos);
}

// Yields {type, start, end, body} for each box in [start, end).
export function* boxes(bytes, start = 0, end = bytes.byteLength) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  while (pos + 8 <= end) {
    let size = u32(view, pos);
    const type = text.decode(bytes.subarray(pos + 4, pos + 8));
    let body = pos + 8;
    if (size === 1) {
      size = Number(view.getBigUint64(pos + 8));
      body += 8;
    } else if (size === 0) {
      size = end - pos;
    }
    if (size < body - pos || pos + size > end) throw new Error(`box ${type} overruns its parent`);
    yield { type, start: pos, end: pos + size, body };
    pos += size;
  }
}

function find(bytes, path, start = 0, end = bytes.byteLength) {
  const [head, ...rest] = path;
  for (const box of boxes(bytes, start, end)) {
    if (box.type !== head) continue;
    if (rest.length === 0) return box;
    return find(bytes, rest, box.body, box.end);
  }
  return null;
}

export function isInitSegment(bytes) {
  return bytes.byteLength >= 8 && text.decode(bytes.subarray(4, 8)) === 'ftyp';
}

// The avcC record and picture size of the init segment.
export function parseInit(bytes) {
  const stsd = find(bytes, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd']);
  if (!stsd) throw new Error('init segment without stsd');
  // stsd: full box header (4) + entry count (4), then the avc1 sample entry.
  const avc1 = find(bytes, ['avc1'], stsd.body + 8, stsd.end);
  if (!avc1) throw new Error('init segment without an avc1 sample entry');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint16(avc1.body + 24);
  const height = view.getUint16(avc1.body + 26);
  // The visual sample entry is 78 bytes; its child boxes follow.
  const avcC = find(bytes, ['avcC'], avc1.body + 78, avc1.end);
  if (!avcC) throw new Error('avc1 without avcC');
  return { width, height, avcc: bytes.slice(avcC.body, avcC.end) };
}

const NTP_UNIX_OFFSET_S = 2208988800;

const VIDEO_TRACK = 1;
const AUDIO_TRACK = 2;

// One traf: its track, decode time and samples ({duration, data, keyframe, cts}).
function parseTraf(bytes, view, traf, moofOffset) {
  const tfhd = find(bytes, ['tfhd'], traf.body, traf.end);
  const tfdt = find(bytes, ['tfdt'], traf.body, traf.end);
  const trun = find(bytes, ['trun'], traf.body, traf.end);
  if (!tfhd || !trun) throw new Error('traf without tfhd or trun');
  const run = { track: u32(view, tfhd.body + 4), decodeTime: 0, samples: [] };
  if (tfdt) {
    run.decodeTime = bytes[tfdt.body] === 1 ? Number(view.getBigUint64(tfdt.body + 4))
                                             : u32(view, tfdt.body + 4);
  }
  const flags = u32(view, trun.body) & 0xffffff;
  const count = u32(view, trun.body + 4);
  let pos = trun.body + 8;  // version+flags, sample count
  let dataOffset = 0;
  if (flags & 0x1) { dataOffset = view.getInt32(pos); pos += 4; }
  let firstFlags = null;
  if (flags & 0x4) { firstFlags = u32(view, pos); pos += 4; }
  let start = moofOffset + dataOffset;
  for (let i = 0; i < count; i++) {
    if (pos > trun.end) throw new Error('trun runs past its box');
    const sample = { duration: 0, data: null, keyframe: true, cts: 0 };
    if (flags & 0x100) { sample.duration = u32(view, pos); pos += 4; }
    let size = 0;
    if (flags & 0x200) { size = u32(view, pos); pos += 4; }
    let sampleFlags = i === 0 ? firstFlags : null;
    if (flags & 0x400) { sampleFlags = u32(view, pos); pos += 4; }
    if (sampleFlags !== null) sample.keyframe = (sampleFlags & 0x10000) === 0;
    if (flags & 0x800) { sample.cts = view.getInt32(pos); pos += 4; }
    if (start + size > bytes.byteLength) throw new Error('sample runs past the message');
    sample.data = bytes.subarray(start, start + size);
    start += size;
    run.samples.push(sample);
  }
  return run;
}

// One fragment: capture time (ms since the epoch, or null), sequence number, where the moof
// starts in the message; the video frame's timing in track units, sync flag and bytes (data is
// null when the fragment has only audio); and the audio frames ({time, duration, data}, in the
// audio track's units).
export function parseFragment(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frag = { captureMs: null, sequence: 0, decodeTime: 0, duration: 0, cts: 0,
                 keyframe: false, data: null, moofOffset: 0, audio: [] };
  let moofFound = false;
  for (const box of boxes(bytes)) {
    if (box.type === 'prft') {
      // version 1: flags(3) track(4) ntp(8) media_time(8)
      const seconds = u32(view, box.body + 8);
      const fraction = u32(view, box.body + 12);
      frag.captureMs = (seconds - NTP_UNIX_OFFSET_S) * 1000 + (fraction / 2 ** 32) * 1000;
    } else if (box.type === 'moof') {
      moofFound = true;
      frag.moofOffset = box.start;  // MSE gets the message from here: prft is for us
      const mfhd = find(bytes, ['mfhd'], box.body, box.end);
      if (mfhd) frag.sequence = u32(view, mfhd.body + 4);
      for (const traf of boxes(bytes, box.body, box.end)) {
        if (traf.type !== 'traf') continue;
        const run = parseTraf(bytes, view, traf, box.start);
        if (run.track === VIDEO_TRACK && run.samples.length > 0) {
          const s = run.samples[0];
          Object.assign(frag, { decodeTime: run.decodeTime, duration: s.duration, cts: s.cts,
                                keyframe: s.keyframe, data: s.data });
        } else if (run.track === AUDIO_TRACK) {
          let time = run.decodeTime;
          for (const s of run.samples) {
            frag.audio.push({ time, duration: s.duration, data: s.data });
            time += s.duration;
          }
        }
      }
    }
  }
  if (!moofFound) throw new Error('message without a fragment');
  return frag;
}
