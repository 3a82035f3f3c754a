// MPEG-1 picture finding, the jsmp header, MPEG-TS entry points and packet alignment: what
// jsmpegsink builds its messages and join points from.
#include "formats/mpeg1.h"
#include "formats/mpegts.h"

#include <glib.h>

#include <string>
#include <vector>

using namespace camcast;

namespace {

using Bytes = std::vector<uint8_t>;

void append(Bytes *b, std::initializer_list<int> bytes) {
  for (int v : bytes)
    b->push_back(uint8_t(v));
}

// A sequence header for width x height (frame rate code 5, 30 fps).
void sequence_header(Bytes *b, int width, int height) {
  append(b, {0, 0, 1, 0xB3, width >> 4, ((width & 0xF) << 4) | (height >> 8), height & 0xFF, 0x15,
             0xFF, 0xFF, 0xE0, 0x18});
}

void gop_header(Bytes *b) {
  append(b, {0, 0, 1, 0xB8, 0x00, 0x08, 0x00, 0x00});
}

// A picture header (temporal reference 1) of `type`, and two slices of filler.
void picture(Bytes *b, int type) {
  append(b, {0, 0, 1, 0x00, 0x00, 0x40 | (type << 3), 0xFF, 0xF8});
  append(b, {0, 0, 1, 0x01, 0x12, 0x34, 0x56});
  append(b, {0, 0, 1, 0x02, 0x78, 0x9A});
}

void test_find_pictures() {
  Bytes s;
  append(&s, {0xAA, 0xBB});  // bytes before the first picture belong to none
  const size_t first = s.size();
  sequence_header(&s, 640, 480);
  gop_header(&s);
  picture(&s, 1);
  const size_t second = s.size();
  picture(&s, 2);
  const size_t third = s.size();
  gop_header(&s);
  picture(&s, 1);
  const size_t fourth = s.size();
  picture(&s, 3);

  const auto p = mpeg1::find_pictures(s.data(), s.size());
  g_assert_cmpuint(p.size(), ==, 4);
  g_assert_cmpuint(p[0].offset, ==, first);
  g_assert_true(p[0].sequence_header);
  g_assert_cmpint(p[0].width, ==, 640);
  g_assert_cmpint(p[0].height, ==, 480);
  g_assert_true(p[0].type == mpeg1::PictureType::I);
  g_assert_true(mpeg1::is_entry_point(p[0]));
  g_assert_cmpuint(p[1].offset, ==, second);
  g_assert_true(p[1].type == mpeg1::PictureType::P);
  g_assert_false(mpeg1::is_entry_point(p[1]));
  // A GOP header without a sequence header opens the picture, but is no entry point.
  g_assert_cmpuint(p[2].offset, ==, third);
  g_assert_true(p[2].type == mpeg1::PictureType::I);
  g_assert_false(p[2].sequence_header);
  g_assert_false(mpeg1::is_entry_point(p[2]));
  g_assert_cmpuint(p[3].offset, ==, fourth);
  g_assert_true(p[3].type == mpeg1::PictureType::B);

  // Cut anywhere, the pictures that begin before the cut are found at the same offsets; a
  // picture header cut short has no type yet.
  for (size_t cut = 0; cut <= s.size(); cut++) {
    const auto q = mpeg1::find_pictures(s.data(), cut);
    for (size_t i = 0; i < q.size(); i++) {
      g_assert_cmpuint(q[i].offset, ==, p[i].offset);
      if (q[i].type != mpeg1::PictureType::Unknown)
        g_assert_true(q[i].type == p[i].type);
    }
  }
  Bytes cut_header;
  append(&cut_header, {0, 0, 1, 0x00, 0x00});
  const auto c = mpeg1::find_pictures(cut_header.data(), cut_header.size());
  g_assert_cmpuint(c.size(), ==, 1);
  g_assert_true(c[0].type == mpeg1::PictureType::Unknown);
  g_assert_cmpuint(mpeg1::find_pictures(nullptr, 0).size(), ==, 0);
}

void test_jsmp_header() {
  const auto h = mpeg1::jsmp_header(640, 480);
  const std::string got(h.begin(), h.end());
  g_assert_true(got == std::string("jsmp\x02\x80\x01\xE0", 8));
  const auto big = mpeg1::jsmp_header(4094, 2160);
  g_assert_cmpint(big[4] << 8 | big[5], ==, 4094);
  g_assert_cmpint(big[6] << 8 | big[7], ==, 2160);
}

// One 188-byte packet: PID 0x100, optional adaptation field of `af` bytes, then `payload`.
Bytes ts_packet(bool unit_start, const Bytes &payload, int af = 0) {
  Bytes p;
  append(&p, {0x47, (unit_start ? 0x40 : 0) | 0x01, 0x00, (af ? 0x30 : 0x10)});
  if (af) {
    p.push_back(uint8_t(af - 1));
    p.insert(p.end(), size_t(af - 1), 0xFF);
  }
  p.insert(p.end(), payload.begin(), payload.end());
  p.resize(mpegts::kPacketSize, 0xFF);
  return p;
}

// A PES header for `stream_id` with a PTS (header_data_length 5), then `es`.
Bytes pes(int stream_id, const Bytes &es) {
  Bytes p;
  append(&p, {0, 0, 1, stream_id, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1});
  p.insert(p.end(), es.begin(), es.end());
  return p;
}

void test_ts_entry_points() {
  Bytes key, delta;
  sequence_header(&key, 320, 240);
  gop_header(&key);
  picture(&key, 1);
  picture(&delta, 2);
  g_assert_true(mpegts::starts_video_entry_point(ts_packet(true, pes(0xE0, key)).data()));
  // With an adaptation field (a PCR) in front.
  g_assert_true(mpegts::starts_video_entry_point(ts_packet(true, pes(0xE0, key), 8).data()));
  g_assert_false(mpegts::starts_video_entry_point(ts_packet(true, pes(0xE0, delta)).data()));
  g_assert_false(mpegts::starts_video_entry_point(ts_packet(false, pes(0xE0, key)).data()));
  g_assert_false(mpegts::starts_video_entry_point(ts_packet(true, pes(0xC0, key)).data()));
  // An adaptation field that fills the packet leaves no room for a PES header.
  g_assert_false(mpegts::starts_video_entry_point(ts_packet(true, pes(0xE0, key), 184).data()));
  Bytes not_ts = ts_packet(true, pes(0xE0, key));
  not_ts[0] = 0x48;
  g_assert_false(mpegts::starts_video_entry_point(not_ts.data()));
}

// A keyframe a relay takes as one: MPEG-1's sequence header, or H.264 whose first NAL units hold
// an SPS or an IDR slice; a random-access flag on a packet with neither is not one.
void test_ts_keyframes() {
  Bytes mpeg1_key;
  sequence_header(&mpeg1_key, 320, 240);
  g_assert_true(mpegts::starts_keyframe(ts_packet(true, pes(0xE0, mpeg1_key)).data()));
  const Bytes aud = {0, 0, 0, 1, 0x09, 0xF0};
  Bytes idr = aud, sps = aud, p_slice = aud;
  append(&sps, {0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E});
  append(&idr, {0, 0, 1, 0x65, 0x88, 0x84});
  append(&p_slice, {0, 0, 1, 0x41, 0x9A, 0x02});
  g_assert_true(mpegts::starts_keyframe(ts_packet(true, pes(0xE0, sps), 8).data()));
  g_assert_true(mpegts::starts_keyframe(ts_packet(true, pes(0xE0, idr)).data()));
  g_assert_false(mpegts::starts_keyframe(ts_packet(true, pes(0xE0, p_slice)).data()));
  g_assert_false(mpegts::starts_keyframe(ts_packet(true, pes(0xC0, sps)).data()));  // audio
  // The random-access flag on a PES with no keyframe in it.
  Bytes flagged = ts_packet(true, pes(0xE0, p_slice), 2);
  flagged[5] = 0x40;
  g_assert_false(mpegts::starts_keyframe(flagged.data()));
}

void test_packet_aligner() {
  Bytes stream;
  for (int i = 0; i < 10; i++) {
    Bytes p = ts_packet(i % 3 == 0, Bytes(3, uint8_t(i)));
    stream.insert(stream.end(), p.begin(), p.end());
  }
  // Any chunking gives the same packets back.
  for (size_t chunk : {1, 7, 188, 200, 1000, 5000}) {
    mpegts::PacketAligner aligner;
    Bytes out;
    for (size_t pos = 0; pos < stream.size(); pos += chunk)
      aligner.push(stream.data() + pos, std::min(chunk, stream.size() - pos), &out);
    g_assert_true(out == stream);
    g_assert_cmpuint(aligner.bytes_skipped(), ==, 0);
  }
  // Garbage in front and between packets is dropped and counted; the packets survive.
  Bytes dirty;
  append(&dirty, {0x47, 1, 2, 3, 4});
  dirty.insert(dirty.end(), stream.begin(), stream.begin() + 5 * 188);
  append(&dirty, {9, 9, 0x47, 9});
  dirty.insert(dirty.end(), stream.begin() + 5 * 188, stream.end());
  mpegts::PacketAligner aligner;
  Bytes out;
  aligner.push(dirty.data(), dirty.size(), &out);
  g_assert_true(out == stream);
  g_assert_cmpuint(aligner.bytes_skipped(), ==, 9);
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/mpeg1/find-pictures", test_find_pictures);
  g_test_add_func("/mpeg1/jsmp-header", test_jsmp_header);
  g_test_add_func("/mpegts/entry-points", test_ts_entry_points);
  g_test_add_func("/mpegts/keyframes", test_ts_keyframes);
  g_test_add_func("/mpegts/packet-aligner", test_packet_aligner);
  return g_test_run();
}
