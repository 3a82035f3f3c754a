// Reading camcast's fragmented MP4: the init segment (for the avcC record WebCodecs needs) and
// one-frame fragments ([prft] moof mdat). Only what the player uses; sizes are checked, so a
// damaged message throws instead of reading past its end.

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

// One fragment: capture time (ms since the epoch, or null), sequence number, timing in track
// units, sync flag, the frame's bytes and where the moof starts in the message.
export function parseFragment(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frag = { captureMs: null, sequence: 0, decodeTime: 0, duration: 0, cts: 0,
                 keyframe: false, data: null, moofOffset: 0 };
  for (const box of boxes(bytes)) {
    if (box.type === 'prft') {
      // version 1: flags(3) track(4) ntp(8) media_time(8)
      const seconds = u32(view, box.body + 8);
      const fraction = u32(view, box.body + 12);
      frag.captureMs = (seconds - NTP_UNIX_OFFSET_S) * 1000 + (fraction / 2 ** 32) * 1000;
    } else if (box.type === 'moof') {
      frag.moofOffset = box.start;  // MSE gets the message from here: prft is for us
      const mfhd = find(bytes, ['mfhd'], box.body, box.end);
      if (mfhd) frag.sequence = u32(view, mfhd.body + 4);
      const traf = find(bytes, ['traf'], box.body, box.end);
      const tfdt = traf && find(bytes, ['tfdt'], traf.body, traf.end);
      if (tfdt) {
        frag.decodeTime = bytes[tfdt.body] === 1 ? Number(view.getBigUint64(tfdt.body + 4))
                                                  : u32(view, tfdt.body + 4);
      }
      const trun = traf && find(bytes, ['trun'], traf.body, traf.end);
      if (!trun) throw new Error('fragment without trun');
      const flags = u32(view, trun.body) & 0xffffff;
      let pos = trun.body + 8;  // version+flags, sample count
      let dataOffset = 0;
      if (flags & 0x1) { dataOffset = view.getInt32(pos); pos += 4; }
      if (flags & 0x4) pos += 4;
      if (flags & 0x100) { frag.duration = u32(view, pos); pos += 4; }
      let size = 0;
      if (flags & 0x200) { size = u32(view, pos); pos += 4; }
      if (flags & 0x400) { frag.keyframe = (u32(view, pos) & 0x10000) === 0; pos += 4; }
      if (flags & 0x800) { frag.cts = view.getInt32(pos); pos += 4; }
      const start = frag.moofOffset + dataOffset;
      if (start + size > bytes.byteLength) throw new Error('sample runs past the message');
      frag.data = bytes.subarray(start, start + size);
    }
  }
  if (!frag.data) throw new Error('message without a fragment');
  return frag;
}
