// The fMP4 box writer's layout (what MSE checks: empty sample tables, mvex, tfdt, relative
// data offsets, sample flags) and the H.264 helpers. qtdemux reading it all back is in
// tests/elements/test_msesink.cpp.
#include "formats/fmp4.h"
#include "formats/fmp4_read.h"
#include "formats/h264.h"
#include "formats/json.h"

#include <gst/gst.h>

#include <cmath>
#include <cstring>
#include <string>

using namespace camcast;

namespace {

uint32_t be32(const std::vector<uint8_t> &b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
}

// Offset of the first box of `type` inside [start, end), descending into `path` first.
size_t find(const std::vector<uint8_t> &b, std::initializer_list<const char *> path,
            size_t start = 0, size_t end = SIZE_MAX) {
  end = std::min(end, b.size());
  for (const char *type : path) {
    size_t pos = start, found = SIZE_MAX;
    while (pos + 8 <= end) {
      const uint32_t size = be32(b, pos);
      g_assert_cmpuint(size, >=, 8);
      g_assert_cmpuint(pos + size, <=, end);
      if (memcmp(&b[pos + 4], type, 4) == 0) {
        found = pos;
        break;
      }
      pos += size;
    }
    if (found == SIZE_MAX)
      return SIZE_MAX;
    start = found + 8;
    end = found + be32(b, found);
  }
  return start - 8;
}

const uint8_t kAvcc[] = {0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x04, 0x67,
                         0x42, 0xc0, 0x0d, 0x01, 0x00, 0x02, 0x68, 0xce};

void test_init_segment() {
  fmp4::VideoTrack t;
  t.width = 640;
  t.height = 480;
  t.avcc.assign(kAvcc, kAvcc + sizeof kAvcc);
  std::vector<uint8_t> init = fmp4::init_segment(&t, nullptr);
  g_assert_cmpuint(find(init, {"ftyp"}), ==, 0);
  g_assert_cmpuint(find(init, {"moov"}) + be32(init, find(init, {"moov"})), ==, init.size());
  // MSE append errors unless mvex is there and the sample tables are empty.
  g_assert_cmpuint(find(init, {"moov", "mvex", "trex"}), !=, SIZE_MAX);
  for (const char *table : {"stts", "stsc", "stco"}) {
    size_t at = find(init, {"moov", "trak", "mdia", "minf", "stbl", table});
    g_assert_cmpuint(at, !=, SIZE_MAX);
    g_assert_cmpuint(be32(init, at + 12), ==, 0);  // entry_count
  }
  size_t tkhd = find(init, {"moov", "trak", "tkhd"});
  g_assert_cmpuint(be32(init, tkhd + 8 + 76), ==, 640u << 16);
  g_assert_cmpuint(be32(init, tkhd + 8 + 80), ==, 480u << 16);
  size_t stsd = find(init, {"moov", "trak", "mdia", "minf", "stbl", "stsd"});
  size_t avc1 = find(init, {"avc1"}, stsd + 16, stsd + be32(init, stsd));
  g_assert_cmpuint(avc1, !=, SIZE_MAX);
  // The visual sample entry's 78 bytes come before its child boxes.
  size_t avcc = find(init, {"avcC"}, avc1 + 8 + 78, avc1 + be32(init, avc1));
  g_assert_cmpuint(avcc, !=, SIZE_MAX);
  g_assert_cmpint(memcmp(&init[avcc + 8], kAvcc, sizeof kAvcc), ==, 0);
}

void test_fragment_header() {
  fmp4::Fragment f;
  f.sequence = 7;
  f.runs.push_back({fmp4::kVideoTrackId, 123456789012ull, {}});
  fmp4::Sample &s = f.runs[0].samples.emplace_back();
  s.duration = 3000;
  s.size = 5000;
  s.keyframe = true;
  f.ntp_time = fmp4::ntp_from_unix_us(0);
  g_assert_cmpuint(f.ntp_time, ==, 2208988800ull << 32);
  std::vector<uint8_t> h = fmp4::fragment_header(f);
  g_assert_cmpuint(find(h, {"prft"}), ==, 0);
  const size_t moof = find(h, {"moof"});
  const size_t mdat = moof + be32(h, moof);
  g_assert_cmpuint(mdat + 8, ==, h.size());  // the header ends where the frame's bytes begin
  g_assert_cmpint(memcmp(&h[mdat + 4], "mdat", 4), ==, 0);
  g_assert_cmpuint(be32(h, mdat), ==, 8 + 5000);
  g_assert_cmpuint(be32(h, find(h, {"moof", "mfhd"}) + 12), ==, 7);
  const size_t tfhd = find(h, {"moof", "traf", "tfhd"});
  g_assert_cmphex(be32(h, tfhd + 8) & 0xFFFFFF, ==, 0x020000);  // default-base-is-moof
  const size_t tfdt = find(h, {"moof", "traf", "tfdt"});
  g_assert_cmpuint(h[tfdt + 8], ==, 1);  // version 1: 64-bit decode time
  g_assert_cmpuint(uint64_t(be32(h, tfdt + 12)) << 32 | be32(h, tfdt + 16), ==,
                   f.runs[0].decode_time);
  const size_t trun = find(h, {"moof", "traf", "trun"});
  g_assert_cmpuint(be32(h, trun + 12), ==, 1);                // one sample
  g_assert_cmpuint(be32(h, trun + 16), ==, mdat + 8 - moof);  // data offset from the moof
  g_assert_cmpuint(be32(h, trun + 20), ==, 3000);
  g_assert_cmpuint(be32(h, trun + 24), ==, 5000);
  // ISO/IEC 14496-12 §8.8.3.1: sample_depends_on 2 (on nothing), not a non-sync sample.
  g_assert_cmphex(be32(h, trun + 28), ==, 0x02000000);
  s.keyframe = false;
  s.duration = 0;  // never written as 0: Safari refuses it
  f.ntp_time = 0;
  f.sequence = 8;
  h = fmp4::fragment_header(f);
  g_assert_cmpint(memcmp(&h[4], "moof", 4), ==, 0);  // no prft: the moof comes first
  const size_t trun2 = find(h, {"moof", "traf", "trun"});
  g_assert_cmpuint(be32(h, trun2 + 20), ==, 1);
  // sample_depends_on 1 (on others), sample_is_non_sync_sample set.
  g_assert_cmphex(be32(h, trun2 + 28), ==, 0x01010000);
}

// A video frame and three audio frames in one fragment: two trafs, the audio's data after the
// video's in the mdat, each run's offset pointing at its own bytes.
void test_fragment_with_audio() {
  fmp4::Fragment f;
  f.sequence = 1;
  f.runs.push_back({fmp4::kVideoTrackId, 9000, {{3000, 700, 0, true}}});
  f.runs.push_back(
      {fmp4::kAudioTrackId, 4800, {{960, 50, 0, false}, {960, 60, 0, false}, {960, 70, 0, false}}});
  f.runs.push_back({fmp4::kAudioTrackId, 0, {}});  // empty: left out
  std::vector<uint8_t> h = fmp4::fragment_header(f);
  const size_t moof = find(h, {"moof"});
  const size_t moof_end = moof + be32(h, moof);
  g_assert_cmpuint(be32(h, moof_end), ==, 8 + 700 + 50 + 60 + 70);
  g_assert_cmpuint(moof_end + 8, ==, h.size());
  const size_t traf1 = find(h, {"moof", "traf"});
  const size_t traf2 = traf1 + be32(h, traf1);
  g_assert_cmpint(memcmp(&h[traf2 + 4], "traf", 4), ==, 0);
  g_assert_cmpuint(traf2 + be32(h, traf2), ==, moof_end);  // two trafs, not three
  const size_t trun1 = find(h, {"trun"}, traf1 + 8, traf2);
  const size_t trun2 = find(h, {"trun"}, traf2 + 8, moof_end);
  g_assert_cmpuint(be32(h, find(h, {"tfhd"}, traf2 + 8, moof_end) + 12), ==, fmp4::kAudioTrackId);
  g_assert_cmpuint(be32(h, trun1 + 16), ==, moof_end + 8 - moof);
  g_assert_cmpuint(be32(h, trun2 + 16), ==, moof_end + 8 - moof + 700);
  // Audio: duration and size only, three samples.
  g_assert_cmphex(be32(h, trun2 + 8) & 0xFFFFFF, ==, 0x000301);
  g_assert_cmpuint(be32(h, trun2 + 12), ==, 3);
  g_assert_cmpuint(be32(h, trun2 + 20), ==, 960);
  g_assert_cmpuint(be32(h, trun2 + 32), ==, 60);
  g_assert_cmpuint(be32(h, trun2 + be32(h, trun2) - 4), ==, 70);  // ends at the last size
}

const uint8_t kAsc[] = {0x11, 0x90};  // AAC LC, 48 kHz, mono

// Audio alone and audio with video: the sample entries the codecs' specifications give.
void test_init_segment_with_audio() {
  fmp4::AudioTrack opus;
  opus.channels = 1;
  opus.opus.channels = 1;
  opus.opus.pre_skip = 312;
  std::vector<uint8_t> init = fmp4::init_segment(nullptr, &opus);
  g_assert_true(fmp4::codec_string(opus) == "opus");
  size_t trak = find(init, {"moov", "trak"});
  g_assert_cmpuint(be32(init, find(init, {"moov", "trak", "tkhd"}) + 20), ==, 2);  // track 2
  size_t hdlr = find(init, {"moov", "trak", "mdia", "hdlr"});
  g_assert_cmpint(memcmp(&init[hdlr + 16], "soun", 4), ==, 0);
  g_assert_cmpuint(be32(init, find(init, {"moov", "trak", "mdia", "mdhd"}) + 20), ==, 48000);
  g_assert_cmpuint(find(init, {"moov", "trak", "mdia", "minf", "smhd"}), !=, SIZE_MAX);
  size_t stsd = find(init, {"moov", "trak", "mdia", "minf", "stbl", "stsd"});
  size_t entry = find(init, {"Opus"}, stsd + 16, stsd + be32(init, stsd));
  g_assert_cmpuint(entry, !=, SIZE_MAX);
  g_assert_cmpuint(init[entry + 8 + 17], ==, 1);                   // channelcount
  g_assert_cmpuint(be32(init, entry + 8 + 24), ==, 48000u << 16);  // samplerate 16.16
  size_t dops = find(init, {"dOps"}, entry + 8 + 28, entry + be32(init, entry));
  g_assert_cmpuint(dops, !=, SIZE_MAX);
  const uint8_t expect_dops[] = {0, 1, 0x01, 0x38, 0, 0, 0xBB, 0x80, 0, 0, 0};
  g_assert_cmpuint(be32(init, dops), ==, 8 + sizeof expect_dops);
  g_assert_cmpint(memcmp(&init[dops + 8], expect_dops, sizeof expect_dops), ==, 0);
  g_assert_cmpuint(be32(init, find(init, {"moov", "mvex", "trex"}) + 12), ==, 2);
  (void)trak;

  fmp4::VideoTrack video;
  video.width = 320;
  video.height = 240;
  video.avcc.assign(kAvcc, kAvcc + sizeof kAvcc);
  fmp4::AudioTrack aac;
  aac.codec = fmp4::AudioTrack::Codec::Aac;
  aac.channels = 1;
  aac.aac_config.assign(kAsc, kAsc + sizeof kAsc);
  g_assert_true(fmp4::codec_string(aac) == "mp4a.40.2");
  init = fmp4::init_segment(&video, &aac);
  const size_t moov = find(init, {"moov"});
  const size_t trak1 = find(init, {"trak"}, moov + 8, moov + be32(init, moov));
  const size_t trak2 = trak1 + be32(init, trak1);
  g_assert_cmpint(memcmp(&init[trak2 + 4], "trak", 4), ==, 0);
  const size_t trak2_end = trak2 + be32(init, trak2);
  stsd = find(init, {"mdia", "minf", "stbl", "stsd"}, trak2 + 8, trak2_end);
  entry = find(init, {"mp4a"}, stsd + 16, stsd + be32(init, stsd));
  g_assert_cmpuint(entry, !=, SIZE_MAX);
  size_t esds = find(init, {"esds"}, entry + 8 + 28, entry + be32(init, entry));
  g_assert_cmpuint(esds, !=, SIZE_MAX);
  // ES_Descriptor(3) { ES_ID, flags, DecoderConfig(4) { 0x40, 0x15, ..., DecoderSpecificInfo(5)
  // { the ASC } }, SLConfig(6) { 2 } }, each size in one byte here.
  const uint8_t expect_esds[] = {0x03, 25, 0,    0,    0,  // ES_ID 0, flags 0
                                 0x04, 17, 0x40, 0x15,     // AAC, audio
                                 0,    0,  0,              // bufferSizeDB
                                 0,    0,  0,    0,        // maxBitrate
                                 0,    0,  0,    0,        // avgBitrate
                                 0x05, 2,  0x11, 0x90,     // the AudioSpecificConfig
                                 0x06, 1,  0x02};
  g_assert_cmpuint(be32(init, esds), ==, 12 + sizeof expect_esds);
  g_assert_cmpint(memcmp(&init[esds + 12], expect_esds, sizeof expect_esds), ==, 0);
  const size_t mvex = find(init, {"moov", "mvex"});
  const size_t trex2 = mvex + 8 + 32;
  g_assert_cmpuint(be32(init, trex2 + 12), ==, 2);
  // An escaped object type: 31, then 6 bits (here 42 - 32 = 10: USAC).
  aac.aac_config = {0xF9, 0x40};
  g_assert_true(fmp4::codec_string(aac) == "mp4a.40.42");
  aac.aac_config = {0xF8};
  g_assert_true(fmp4::codec_string(aac).empty());
}

void test_avcc_parsing() {
  h264::AvcConfig c;
  g_assert_true(h264::parse_avcc(kAvcc, sizeof kAvcc, &c));
  g_assert_cmpuint(c.sps.size(), ==, 1);
  g_assert_cmpuint(c.pps.size(), ==, 1);
  g_assert_cmpuint(c.nal_length_size, ==, 4);
  g_assert_true(h264::codec_string(c) == "avc1.42c00d");
  for (size_t n = 0; n < sizeof kAvcc; n++)
    g_assert_false(h264::parse_avcc(kAvcc, n, &c));  // every truncation is refused
}

void test_annexb_shares_nal_units() {
  h264::AvcConfig c;
  g_assert_true(h264::parse_avcc(kAvcc, sizeof kAvcc, &c));
  const uint8_t au[] = {0, 0, 0, 3, 0x65, 0xAA, 0xBB, 0, 0, 0, 2, 0x06, 0x01};
  GstBuffer *in = gst_buffer_new_memdup(au, sizeof au);
  GstBuffer *out = h264::annexb_from_avc(in, c, true);
  g_assert_nonnull(out);
  const uint8_t expect[] = {0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x0d, 0, 0, 0, 1,    0x68, 0xce,
                            0, 0, 0, 1, 0x65, 0xAA, 0xBB, 0,    0, 0, 1, 0x06, 0x01};
  g_assert_cmpuint(gst_buffer_get_size(out), ==, sizeof expect);
  g_assert_cmpint(gst_buffer_memcmp(out, 0, expect, sizeof expect), ==, 0);
  gst_buffer_unref(out);
  // A keyframe with its own SPS and PPS (x264's) gets no second set.
  const uint8_t own[] = {0, 0, 0, 2, 0x67, 0x42, 0, 0, 0, 2, 0x68, 0xce, 0, 0, 0, 2, 0x65, 0xAA};
  GstBuffer *with_sets = gst_buffer_new_memdup(own, sizeof own);
  out = h264::annexb_from_avc(with_sets, c, true);
  const uint8_t as_is[] = {0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0xAA};
  g_assert_cmpuint(gst_buffer_get_size(out), ==, sizeof as_is);
  g_assert_cmpint(gst_buffer_memcmp(out, 0, as_is, sizeof as_is), ==, 0);
  gst_buffer_unref(out);
  gst_buffer_unref(with_sets);
  // A length running past the end is refused, not read.
  const uint8_t bad[] = {0, 0, 0, 9, 0x65, 0xAA};
  GstBuffer *broken = gst_buffer_new_memdup(bad, sizeof bad);
  g_assert_null(h264::annexb_from_avc(broken, c, false));
  gst_buffer_unref(broken);
  gst_buffer_unref(in);
}

// A recording's file read back (fmp4_read.h): timescales, the first capture time, whole fragments
// and how long they play; a file cut inside a fragment's samples (a power cut) counts the
// fragments before it; one cut inside its moov is not readable; a damaged size stops the walk.
void test_summarize() {
  fmp4::VideoTrack video;
  video.width = 64, video.height = 48;
  video.avcc.assign(kAvcc, kAvcc + sizeof kAvcc);
  fmp4::AudioTrack audio;
  std::vector<uint8_t> file = fmp4::init_segment(&video, &audio);
  const size_t init = file.size();
  std::vector<size_t> ends;
  for (uint32_t i = 0; i < 3; i++) {
    fmp4::Fragment f;
    f.sequence = i + 1;
    f.ntp_time = fmp4::ntp_from_unix_us(int64_t(1796738709) * 1000000 + i * 1000000);
    f.runs.push_back({fmp4::kVideoTrackId, i * 90000, {{45000, 100, 0, true}, {45000, 50}}});
    f.runs.push_back({fmp4::kAudioTrackId, i * 48000, {{24000, 10}, {24000, 10}}});
    const std::vector<uint8_t> head = fmp4::fragment_header(f);
    file.insert(file.end(), head.begin(), head.end());
    file.insert(file.end(), 170, 0xAB);
    ends.push_back(file.size());
  }
  auto summary = [&](size_t size) {
    return fmp4::summarize(
        [&](uint64_t offset, uint8_t *out, size_t len) -> size_t {
          if (offset >= size)
            return 0;
          const size_t n = std::min<size_t>(len, size - size_t(offset));
          memcpy(out, file.data() + offset, n);
          return n;
        },
        size);
  };
  fmp4::FileSummary s = summary(file.size());
  g_assert_true(s.readable);
  g_assert_cmpuint(s.video_timescale, ==, 90000);
  g_assert_cmpuint(s.audio_timescale, ==, 48000);
  g_assert_cmpuint(s.fragments, ==, 3);
  g_assert_cmpuint(s.whole_bytes, ==, file.size());
  g_assert_cmpfloat(std::abs(s.duration - 3.0), <, 1e-9);
  g_assert_cmpuint(s.first_ntp >> 32, ==, 1796738709u + 2208988800u);
  s = summary(ends[2] - 20);  // the third fragment's samples cut short
  g_assert_cmpuint(s.fragments, ==, 2);
  g_assert_cmpuint(s.whole_bytes, ==, ends[1]);
  g_assert_cmpfloat(std::abs(s.duration - 2.0), <, 1e-9);
  s = summary(init - 10);
  g_assert_false(s.readable);
  g_assert_cmpuint(s.fragments, ==, 0);
  file[init + 3] = 0xFF;  // the first prft's size now runs past the end
  s = summary(file.size());
  g_assert_true(s.readable);
  g_assert_cmpuint(s.fragments, ==, 0);
  g_assert_cmpfloat(s.duration, ==, 0);
}

}  // namespace

// The description a player reads first, written out by hand: what is not known is left out;
// a ladder names this rung and every rung's size; strings are escaped.
void test_stream_description() {
  camcast::StreamDescription jpeg;
  jpeg.format = "jpeg";
  jpeg.width = 640;
  jpeg.height = 480;
  const std::string jpeg_json = jpeg.json();
  g_assert_cmpstr(jpeg_json.c_str(), ==,
                  "{\"type\":\"stream\",\"format\":\"jpeg\",\"width\":640,\"height\":480}");
  camcast::StreamDescription d;
  d.format = "fmp4";
  d.codec = "avc1.42c01f";
  d.width = 640;
  d.height = 360;
  d.timescale = 90000;
  d.has_audio = true;
  d.audio = {"mp4a.40.2", 48000, 1};
  d.rung = 1;
  d.ladder = {{0, 1280, 720}, {1, 640, 360}};
  d.whep = "/web\"rtc";
  const std::string json = d.json();
  g_assert_cmpstr(json.c_str(), ==,
                  "{\"type\":\"stream\",\"format\":\"fmp4\",\"codec\":\"avc1.42c01f\","
                  "\"width\":640,\"height\":360,\"timescale\":90000,"
                  "\"audio\":{\"codec\":\"mp4a.40.2\",\"rate\":48000,\"channels\":1},"
                  "\"rung\":1,\"ladder\":[{\"rung\":0,\"width\":1280,\"height\":720},"
                  "{\"rung\":1,\"width\":640,\"height\":360}],\"whep\":\"/web\\\"rtc\"}");
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/fmp4/init-segment", test_init_segment);
  g_test_add_func("/fmp4/fragment-header", test_fragment_header);
  g_test_add_func("/fmp4/fragment-with-audio", test_fragment_with_audio);
  g_test_add_func("/fmp4/init-segment-with-audio", test_init_segment_with_audio);
  g_test_add_func("/fmp4/stream-description", test_stream_description);
  g_test_add_func("/fmp4/summarize", test_summarize);
  g_test_add_func("/h264/avcc", test_avcc_parsing);
  g_test_add_func("/h264/annexb", test_annexb_shares_nal_units);
  return g_test_run();
}
