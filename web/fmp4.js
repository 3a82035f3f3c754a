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

// What a decoder needs from the init segment: the avcC record and picture size of the video
// track (null without one), and the audio track's decoder description (AAC's
// AudioSpecificConfig; null for Opus, whose defaults suffice, or without audio).
export function parseInit(bytes) {
  const moov = find(bytes, ['moov']);
  if (!moov) throw new Error('init segment without moov');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const init = { width: 0, height: 0, avcc: null, audioConfig: null };
  for (const trak of boxes(bytes, moov.body, moov.end)) {
    if (trak.type !== 'trak') continue;
    const stsd = find(bytes, ['mdia', 'minf', 'stbl', 'stsd'], trak.body, trak.end);
    if (!stsd) throw new Error('init segment without stsd');
    // stsd: full box header (4) + entry count (4), then the sample entry.
    const [entry] = boxes(bytes, stsd.body + 8, stsd.end);
    if (entry && entry.type === 'avc1') {
      init.width = view.getUint16(entry.body + 24);
      init.height = view.getUint16(entry.body + 26);
      // The visual sample entry is 78 bytes; its child boxes follow.
      const avcC = find(bytes, ['avcC'], entry.body + 78, entry.end);
      if (!avcC) throw new Error('avc1 without avcC');
      init.avcc = bytes.slice(avcC.body, avcC.end);
    } else if (entry && entry.type === 'mp4a') {
      // The audio sample entry is 28 bytes; then esds (a full box) and its descriptors.
      const esds = find(bytes, ['esds'], entry.body + 28, entry.end);
      if (esds) init.audioConfig = decoderSpecificInfo(bytes, esds.body + 4, esds.end);
    }
  }
  return init;
}

// The DecoderSpecificInfo (tag 5) inside an ES_Descriptor (ISO/IEC 14496-1 §7.2.6), or null.
function decoderSpecificInfo(bytes, start, end) {
  let pos = start;
  while (pos < end) {
    const tag = bytes[pos++];
    let size = 0;
    for (let i = 0; i < 4 && pos < end; i++) {
      const b = bytes[pos++];
      size = (size << 7) | (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    if (tag === 5) return pos + size <= end ? bytes.slice(pos, pos + size) : null;
    if (tag === 3) pos += 3;        // ES_ID, flags: descriptors follow (no optional fields here)
    else if (tag === 4) pos += 13;  // the decoder configuration's fields, then DecoderSpecificInfo
    else pos += size;
  }
  return null;
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
