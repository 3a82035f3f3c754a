// The fMP4 box writer's layout (what MSE checks: empty sample tables, mvex, tfdt, relative
// data offsets, sample flags) and the H.264 helpers. qtdemux reading it all back is in
// tests/elements/test_msesink.cpp.
#include "formats/fmp4.h"
#include "formats/h264.h"

#include <gst/gst.h>

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
  std::vector<uint8_t> init = fmp4::init_segment(t);
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
  fmp4::Sample s;
  s.decode_time = 123456789012ull;
  s.duration = 3000;
  s.size = 5000;
  s.keyframe = true;
  s.ntp_time = fmp4::ntp_from_unix_us(0);
  g_assert_cmpuint(s.ntp_time, ==, 2208988800ull << 32);
  std::vector<uint8_t> h = fmp4::fragment_header(7, s);
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
  g_assert_cmpuint(uint64_t(be32(h, tfdt + 12)) << 32 | be32(h, tfdt + 16), ==, s.decode_time);
  const size_t trun = find(h, {"moof", "traf", "trun"});
  g_assert_cmpuint(be32(h, trun + 12), ==, 1);                // one sample
  g_assert_cmpuint(be32(h, trun + 16), ==, mdat + 8 - moof);  // data offset from the moof
  g_assert_cmpuint(be32(h, trun + 20), ==, 3000);
  g_assert_cmpuint(be32(h, trun + 24), ==, 5000);
  // ISO/IEC 14496-12 §8.8.3.1: sample_depends_on 2 (on nothing), not a non-sync sample.
  g_assert_cmphex(be32(h, trun + 28), ==, 0x02000000);
  s.keyframe = false;
  s.ntp_time = 0;
  s.duration = 0;  // never written as 0: Safari refuses it
  h = fmp4::fragment_header(8, s);
  g_assert_cmpint(memcmp(&h[4], "moof", 4), ==, 0);  // no prft: the moof comes first
  const size_t trun2 = find(h, {"moof", "traf", "trun"});
  g_assert_cmpuint(be32(h, trun2 + 20), ==, 1);
  // sample_depends_on 1 (on others), sample_is_non_sync_sample set.
  g_assert_cmphex(be32(h, trun2 + 28), ==, 0x01010000);
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
  // A length running past the end is refused, not read.
  const uint8_t bad[] = {0, 0, 0, 9, 0x65, 0xAA};
  GstBuffer *broken = gst_buffer_new_memdup(bad, sizeof bad);
  g_assert_null(h264::annexb_from_avc(broken, c, false));
  gst_buffer_unref(broken);
  gst_buffer_unref(in);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/fmp4/init-segment", test_init_segment);
  g_test_add_func("/fmp4/fragment-header", test_fragment_header);
  g_test_add_func("/h264/avcc", test_avcc_parsing);
  g_test_add_func("/h264/annexb", test_annexb_shares_nal_units);
  return g_test_run();
}
