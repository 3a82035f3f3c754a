#include "formats/fmp4.h"

#include <cstring>

namespace camcast::fmp4 {

void BoxWriter::u16(uint16_t v) {
  u8(uint8_t(v >> 8));
  u8(uint8_t(v));
}
void BoxWriter::u24(uint32_t v) {
  u8(uint8_t(v >> 16));
  u16(uint16_t(v));
}
void BoxWriter::u32(uint32_t v) {
  u16(uint16_t(v >> 16));
  u16(uint16_t(v));
}
void BoxWriter::u64(uint64_t v) {
  u32(uint32_t(v >> 32));
  u32(uint32_t(v));
}
void BoxWriter::bytes(const void *data, size_t len) {
  const auto *p = static_cast<const uint8_t *>(data);
  out_.insert(out_.end(), p, p + len);
}

void BoxWriter::begin(const char type[4], int version, uint32_t flags) {
  open_.push_back(out_.size());
  u32(0);  // size, patched by end()
  fourcc(type);
  if (version >= 0) {
    u8(uint8_t(version));
    u24(flags);
  }
}

void BoxWriter::end() {
  const size_t start = open_.back();
  open_.pop_back();
  const uint32_t size = uint32_t(out_.size() - start);
  out_[start] = uint8_t(size >> 24);
  out_[start + 1] = uint8_t(size >> 16);
  out_[start + 2] = uint8_t(size >> 8);
  out_[start + 3] = uint8_t(size);
}

namespace {

// The unity matrix of mvhd and tkhd (§8.2.2): 16.16 and 2.30 fixed point.
void unity_matrix(BoxWriter &w) {
  const uint32_t m[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
  for (uint32_t v : m)
    w.u32(v);
}

// The file type (ISO/IEC 14496-12 §4.3): ISO BMFF with fragments; the codecs' brands.
void write_ftyp(BoxWriter &w, const VideoTrack *video, const AudioTrack *audio) {
  w.begin("ftyp");
  w.fourcc("iso5");
  w.u32(512);
  w.fourcc("iso5");
  w.fourcc("iso6");
  if (video)
    w.fourcc("avc1");
  if (audio && audio->codec == AudioTrack::Codec::Opus)
    w.fourcc("Opus");  // Opus in ISO BMFF §4.1
  w.fourcc("mp41");
  w.end();
}

// The movie header: a live movie of one or two tracks.
void write_mvhd(BoxWriter &w) {
  w.begin("mvhd", 0);
  w.u32(0);           // creation time
  w.u32(0);           // modification time
  w.u32(1000);        // timescale
  w.u32(0);           // duration: unknown, live (Chromium then skips its render pre-roll)
  w.u32(0x00010000);  // rate 1.0
  w.u16(0x0100);      // volume 1.0
  w.zeros(10);
  unity_matrix(w);
  w.zeros(24);               // pre_defined
  w.u32(kAudioTrackId + 1);  // next_track_ID
  w.end();
}

// The track header: video has a size and no volume, audio the opposite.
void write_tkhd(BoxWriter &w, uint32_t track_id, uint32_t width, uint32_t height) {
  w.begin("tkhd", 0, 0x000003);  // enabled, in movie
  w.u32(0);
  w.u32(0);
  w.u32(track_id);
  w.u32(0);  // reserved
  w.u32(0);  // duration
  w.zeros(8);
  w.u16(0);                                       // layer
  w.u16(0);                                       // alternate group
  w.u16(track_id == kAudioTrackId ? 0x0100 : 0);  // volume
  w.u16(0);
  unity_matrix(w);
  w.u32(width << 16);
  w.u32(height << 16);
  w.end();
}

// The media header and handler: the track's timescale and kind ("vide" or "soun").
void write_mdhd_hdlr(BoxWriter &w, uint32_t timescale, const char handler[4], const char *name) {
  w.begin("mdhd", 0);
  w.u32(0);
  w.u32(0);
  w.u32(timescale);
  w.u32(0);
  w.u16(0x55C4);  // language "und"
  w.u16(0);
  w.end();
  w.begin("hdlr", 0);
  w.u32(0);
  w.fourcc(handler);
  w.zeros(12);
  w.bytes(name, strlen(name) + 1);  // NUL-terminated
  w.end();
}

// The media's own header (vmhd or smhd) and the data reference (the media is in this file).
void write_media_header_dinf(BoxWriter &w, bool video) {
  if (video) {
    w.begin("vmhd", 0, 1);
    w.zeros(8);  // graphicsmode, opcolor
  } else {
    w.begin("smhd", 0);
    w.zeros(4);  // balance, reserved
  }
  w.end();
  w.begin("dinf");
  w.begin("dref", 0);
  w.u32(1);
  w.begin("url ", 0, 1);  // media data in this file
  w.end();
  w.end();
  w.end();
}

// The avc1 sample entry with the stream's avcC (ISO/IEC 14496-15 §5.4.2).
void write_avc1(BoxWriter &w, const VideoTrack &t) {
  w.begin("avc1");
  w.zeros(6);
  w.u16(1);  // data_reference_index
  w.zeros(16);
  w.u16(uint16_t(t.width));
  w.u16(uint16_t(t.height));
  w.u32(0x00480000);  // 72 dpi
  w.u32(0x00480000);
  w.u32(0);
  w.u16(1);       // frame count
  w.zeros(32);    // compressor name
  w.u16(0x0018);  // depth
  w.u16(0xFFFF);  // pre_defined = -1
  w.begin("avcC");
  w.bytes(t.avcc.data(), t.avcc.size());
  w.end();
  w.end();
}

// An MPEG-4 descriptor's tag and size (ISO/IEC 14496-1 §8.3.3: 7 bits per byte, high bit set on
// all but the last).
void descriptor(BoxWriter &w, uint8_t tag, size_t size) {
  w.u8(tag);
  for (int shift = 21; shift > 0; shift -= 7)
    if (size >> shift)
      w.u8(uint8_t(0x80 | ((size >> shift) & 0x7F)));
  w.u8(uint8_t(size & 0x7F));
}

// A descriptor's whole size with `body` bytes in it.
size_t descriptor_size(size_t body) {
  size_t size = 2 + body;
  for (size_t rest = body >> 7; rest; rest >>= 7)
    size++;
  return size;
}

// esds (ISO/IEC 14496-14 §5.6): an ES descriptor whose decoder configuration says AAC
// (objectTypeIndication 0x40, audio stream) and carries the AudioSpecificConfig.
void write_esds(BoxWriter &w, const std::vector<uint8_t> &asc) {
  w.begin("esds", 0);
  const size_t config = 13 + descriptor_size(asc.size());
  descriptor(w, 0x03, 3 + descriptor_size(config) + 3);  // ES_Descriptor
  w.u16(0);                                              // ES_ID
  w.u8(0);                                               // no dependency, URL or OCR stream
  descriptor(w, 0x04, config);                           // DecoderConfigDescriptor
  w.u8(0x40);                                            // Audio ISO/IEC 14496-3
  w.u8(0x15);                                            // streamType 5 (audio) << 2 | reserved 1
  w.u24(0);                                              // bufferSizeDB
  w.u32(0);                                              // maxBitrate
  w.u32(0);                                              // avgBitrate
  descriptor(w, 0x05, asc.size());                       // DecoderSpecificInfo
  w.bytes(asc.data(), asc.size());
  descriptor(w, 0x06, 1);  // SLConfigDescriptor
  w.u8(0x02);              // predefined: MP4
  w.end();
}

// dOps (Opus in ISO BMFF §4.3.2): OpusHead's fields, big-endian here.
void write_dops(BoxWriter &w, const OpusConfig &c) {
  w.begin("dOps");
  w.u8(0);  // version
  w.u8(c.channels);
  w.u16(c.pre_skip);
  w.u32(c.input_rate);
  w.u16(uint16_t(c.output_gain));
  w.u8(c.mapping_family);
  if (c.mapping_family != 0) {
    w.u8(c.stream_count);
    w.u8(c.coupled_count);
    w.bytes(c.mapping, c.channels);
  }
  w.end();
}

// The audio sample entry (§12.2.3): Opus with dOps, or mp4a with esds.
void write_audio_entry(BoxWriter &w, const AudioTrack &t) {
  const bool opus = t.codec == AudioTrack::Codec::Opus;
  w.begin(opus ? "Opus" : "mp4a");
  w.zeros(6);
  w.u16(1);  // data_reference_index
  w.zeros(8);
  w.u16(t.channels);
  w.u16(16);  // samplesize
  w.zeros(4);
  w.u32(opus ? 48000u << 16 : (t.rate <= 0xFFFF ? t.rate << 16 : 0));
  if (opus)
    write_dops(w, t.opus);
  else
    write_esds(w, t.aac_config);
  w.end();
}

// The sample description, and empty sample tables: the samples come in fragments.
void write_stbl(BoxWriter &w, const VideoTrack *video, const AudioTrack *audio) {
  w.begin("stbl");
  w.begin("stsd", 0);
  w.u32(1);
  if (video)
    write_avc1(w, *video);
  else
    write_audio_entry(w, *audio);
  w.end();  // stsd
  for (const char *box : {"stts", "stsc", "stco"}) {
    w.begin(box, 0);
    w.u32(0);
    w.end();
  }
  w.begin("stsz", 0);
  w.u32(0);
  w.u32(0);
  w.end();
  w.end();
}

// One track: `video` or `audio`, the other null.
void write_trak(BoxWriter &w, const VideoTrack *video, const AudioTrack *audio) {
  w.begin("trak");
  if (video)
    write_tkhd(w, kVideoTrackId, video->width, video->height);
  else
    write_tkhd(w, kAudioTrackId, 0, 0);
  w.begin("mdia");
  if (video)
    write_mdhd_hdlr(w, video->timescale, "vide", "camcast video");
  else
    write_mdhd_hdlr(w, audio->rate, "soun", "camcast audio");
  w.begin("minf");
  write_media_header_dinf(w, video != nullptr);
  write_stbl(w, video, audio);
  w.end();  // minf
  w.end();  // mdia
  w.end();  // trak
}

// Fragments follow, each sample describing itself (§8.8).
void write_trex(BoxWriter &w, uint32_t track_id) {
  w.begin("trex", 0);
  w.u32(track_id);
  w.u32(1);  // default sample description index
  w.u32(0);  // default duration, size, flags: each trun says its own
  w.u32(0);
  w.u32(0);
  w.end();
}

void patch_u32(std::vector<uint8_t> &out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; i++)
    out[at + i] = uint8_t(v >> (24 - 8 * i));
}

// trun flags (§8.8.8.1).
constexpr uint32_t kDataOffset = 0x000001, kDuration = 0x000100, kSize = 0x000200,
                   kFlags = 0x000400, kCompositionOffset = 0x000800;

}  // namespace

std::string codec_string(const AudioTrack &t) {
  if (t.codec == AudioTrack::Codec::Opus)
    return "opus";
  // The AudioSpecificConfig starts with the audio object type: 5 bits, 31 escaping to 6 more
  // (ISO/IEC 14496-3 §1.6.2.1); RFC 6381 §3.3 names it in decimal.
  const auto &c = t.aac_config;
  if (c.empty())
    return "";
  unsigned type = c[0] >> 3;
  if (type == 31) {
    if (c.size() < 2)
      return "";
    type = 32 + (((c[0] & 7u) << 3) | (c[1] >> 5));
  }
  return "mp4a.40." + std::to_string(type);
}

std::vector<uint8_t> init_segment(const VideoTrack *video, const AudioTrack *audio) {
  std::vector<uint8_t> out;
  BoxWriter w(out);
  write_ftyp(w, video, audio);
  w.begin("moov");
  write_mvhd(w);
  if (video)
    write_trak(w, video, nullptr);
  if (audio)
    write_trak(w, nullptr, audio);
  w.begin("mvex");
  if (video)
    write_trex(w, kVideoTrackId);
  if (audio)
    write_trex(w, kAudioTrackId);
  w.end();  // mvex
  w.end();  // moov
  return out;
}

std::vector<uint8_t> fragment_header(const Fragment &f) {
  std::vector<uint8_t> out;
  out.reserve(160);
  BoxWriter w(out);
  const Run *first = nullptr;
  for (const Run &run : f.runs)
    if (!first && !run.samples.empty())
      first = &run;
  if (f.ntp_time && first) {
    // Producer reference time (§8.16.5): the capture wall-clock time of this fragment's first
    // sample, so a player can measure glass-to-glass latency.
    w.begin("prft", 1, 0);
    w.u32(first->track_id);
    w.u64(f.ntp_time);
    w.u64(first->decode_time);
    w.end();
  }
  const size_t moof_start = out.size();
  w.begin("moof");
  w.begin("mfhd", 0);
  w.u32(f.sequence);
  w.end();
  std::vector<size_t> offset_at;  // where each run's data offset goes, patched below
  for (const Run &run : f.runs) {
    if (run.samples.empty())
      continue;
    const bool video = run.track_id == kVideoTrackId;
    w.begin("traf");
    w.begin("tfhd", 0, 0x020000);  // default-base-is-moof
    w.u32(run.track_id);
    w.end();
    w.begin("tfdt", 1);
    w.u64(run.decode_time);
    w.end();
    // Video samples say whether they are sync samples and their composition offset (version 1:
    // signed); audio samples are all sync samples in decode order (trex's default flags, 0).
    const uint32_t fields =
        kDataOffset | kDuration | kSize | (video ? kFlags | kCompositionOffset : 0);
    w.begin("trun", 1, fields);
    w.u32(uint32_t(run.samples.size()));
    offset_at.push_back(out.size());
    w.u32(0);
    for (const Sample &s : run.samples) {
      w.u32(s.duration ? s.duration : 1);
      w.u32(s.size);
      if (video) {
        w.u32(s.keyframe ? kSyncSampleFlags : kNonSyncSampleFlags);
        w.u32(uint32_t(s.composition_offset));
      }
    }
    w.end();  // trun
    w.end();  // traf
  }
  w.end();  // moof
  // Each data offset is relative to the moof's first byte: past the mdat header and the runs
  // before it.
  uint32_t offset = uint32_t(out.size() - moof_start + 8), payload = 0;
  size_t i = 0;
  for (const Run &run : f.runs) {
    if (run.samples.empty())
      continue;
    patch_u32(out, offset_at[i++], offset + payload);
    for (const Sample &s : run.samples)
      payload += s.size;
  }
  w.u32(8 + payload);
  w.fourcc("mdat");
  return out;
}

uint64_t ntp_from_unix_us(int64_t unix_us) {
  constexpr uint64_t kNtpToUnixSeconds = 2208988800ull;  // 1900-01-01 to 1970-01-01
  const uint64_t seconds = uint64_t(unix_us / 1000000) + kNtpToUnixSeconds;
  const uint64_t fraction = (uint64_t(unix_us % 1000000) << 32) / 1000000;
  return (seconds << 32) | fraction;
}

}  // namespace camcast::fmp4
