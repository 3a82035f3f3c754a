#include "formats/fmp4.h"

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

constexpr uint32_t kTrackId = 1;

// The unity matrix of mvhd and tkhd (§8.2.2): 16.16 and 2.30 fixed point.
void unity_matrix(BoxWriter &w) {
  const uint32_t m[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
  for (uint32_t v : m)
    w.u32(v);
}

// The file type (ISO/IEC 14496-12 §4.3): ISO BMFF with fragments, H.264.
void write_ftyp(BoxWriter &w) {
  w.begin("ftyp");
  w.fourcc("iso5");
  w.u32(512);
  w.fourcc("iso5");
  w.fourcc("iso6");
  w.fourcc("avc1");
  w.fourcc("mp41");
  w.end();
}

// The movie header: a live movie of one track.
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
  w.zeros(24);          // pre_defined
  w.u32(kTrackId + 1);  // next_track_ID
  w.end();
}

void write_tkhd(BoxWriter &w, const VideoTrack &t) {
  w.begin("tkhd", 0, 0x000003);  // enabled, in movie
  w.u32(0);
  w.u32(0);
  w.u32(kTrackId);
  w.u32(0);  // reserved
  w.u32(0);  // duration
  w.zeros(8);
  w.u16(0);  // layer
  w.u16(0);  // alternate group
  w.u16(0);  // volume: video
  w.u16(0);
  unity_matrix(w);
  w.u32(t.width << 16);
  w.u32(t.height << 16);
  w.end();
}

// The media header and handler: a video track in the track's own timescale.
void write_mdhd_hdlr(BoxWriter &w, const VideoTrack &t) {
  w.begin("mdhd", 0);
  w.u32(0);
  w.u32(0);
  w.u32(t.timescale);
  w.u32(0);
  w.u16(0x55C4);  // language "und"
  w.u16(0);
  w.end();
  w.begin("hdlr", 0);
  w.u32(0);
  w.fourcc("vide");
  w.zeros(12);
  w.bytes("camcast video", 14);  // name, NUL-terminated
  w.end();
}

// The video media header and the data reference (the media is in this file).
void write_vmhd_dinf(BoxWriter &w) {
  w.begin("vmhd", 0, 1);
  w.zeros(8);  // graphicsmode, opcolor
  w.end();
  w.begin("dinf");
  w.begin("dref", 0);
  w.u32(1);
  w.begin("url ", 0, 1);  // media data in this file
  w.end();
  w.end();
  w.end();
}

// The sample description: avc1 with the stream's avcC; and empty sample tables, since the
// samples come in fragments.
void write_stbl(BoxWriter &w, const VideoTrack &t) {
  w.begin("stbl");
  w.begin("stsd", 0);
  w.u32(1);
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
  w.end();  // avc1
  w.end();  // stsd
  // Empty sample tables: the samples come in fragments.
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

// Fragments follow, each sample describing itself (§8.8).
void write_mvex(BoxWriter &w) {
  w.begin("mvex");
  w.begin("trex", 0);
  w.u32(kTrackId);
  w.u32(1);  // default sample description index
  w.u32(0);  // default duration, size, flags: each trun says its own
  w.u32(0);
  w.u32(0);
  w.end();
  w.end();
}

}  // namespace

std::vector<uint8_t> init_segment(const VideoTrack &t) {
  std::vector<uint8_t> out;
  BoxWriter w(out);
  write_ftyp(w);
  w.begin("moov");
  write_mvhd(w);
  w.begin("trak");
  write_tkhd(w, t);
  w.begin("mdia");
  write_mdhd_hdlr(w, t);
  w.begin("minf");
  write_vmhd_dinf(w);
  write_stbl(w, t);
  w.end();  // minf
  w.end();  // mdia
  w.end();  // trak
  write_mvex(w);
  w.end();  // moov
  return out;
}

std::vector<uint8_t> fragment_header(uint32_t sequence_number, const Sample &s) {
  std::vector<uint8_t> out;
  out.reserve(160);
  BoxWriter w(out);
  if (s.ntp_time) {
    // Producer reference time (§8.16.5): the capture wall-clock time of this frame, so a player
    // can measure glass-to-glass latency.
    w.begin("prft", 1, 0);
    w.u32(kTrackId);
    w.u64(s.ntp_time);
    w.u64(s.decode_time);
    w.end();
  }
  const size_t moof_start = out.size();
  w.begin("moof");
  w.begin("mfhd", 0);
  w.u32(sequence_number);
  w.end();
  w.begin("traf");
  w.begin("tfhd", 0, 0x020000);  // default-base-is-moof
  w.u32(kTrackId);
  w.end();
  w.begin("tfdt", 1);
  w.u64(s.decode_time);
  w.end();
  // data-offset, sample duration, size, flags and composition offset present (version 1:
  // signed composition offsets).
  w.begin("trun", 1, 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800);
  w.u32(1);  // sample count
  const size_t data_offset_at = out.size();
  w.u32(0);  // data offset, patched below
  w.u32(s.duration ? s.duration : 1);
  w.u32(s.size);
  w.u32(s.keyframe ? kSyncSampleFlags : kNonSyncSampleFlags);
  w.u32(uint32_t(s.composition_offset));
  w.end();  // trun
  w.end();  // traf
  w.end();  // moof
  // The data offset is relative to the moof's first byte and points past the mdat header.
  const uint32_t data_offset = uint32_t(out.size() - moof_start + 8);
  for (int i = 0; i < 4; i++)
    out[data_offset_at + i] = uint8_t(data_offset >> (24 - 8 * i));
  w.u32(8 + s.size);
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
