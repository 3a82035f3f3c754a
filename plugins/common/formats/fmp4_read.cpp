#include "formats/fmp4_read.h"

#include <cstring>
#include <string_view>
#include <vector>

namespace camcast::fmp4 {

namespace {

// The largest moov and moof read: camcast writes a few hundred bytes of each (a fragment's
// moof grows with its samples: a second of 60 pictures and 50 sound frames is about 1.5 KB).
constexpr uint64_t kMaxHeaderBox = 1024 * 1024;

uint32_t be32(const uint8_t *p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
uint64_t be64(const uint8_t *p) {
  return uint64_t(be32(p)) << 32 | be32(p + 4);
}

// The boxes inside a payload, one after another; stops at the first that does not fit.
class Boxes {
public:
  Boxes(const uint8_t *data, size_t size) : p_(data), end_(data + size) {}
  // The next box: its type and payload. False at the end or at a box that does not fit.
  bool next(std::string_view *type, const uint8_t **payload, size_t *size) {
    if (end_ - p_ < 8)
      return false;
    uint64_t box = be32(p_);
    size_t header = 8;
    if (box == 1) {
      if (end_ - p_ < 16)
        return false;
      box = be64(p_ + 8);
      header = 16;
    } else if (box == 0) {
      box = uint64_t(end_ - p_);
    }
    if (box < header || box > uint64_t(end_ - p_))
      return false;
    *type = std::string_view(reinterpret_cast<const char *>(p_ + 4), 4);
    *payload = p_ + header;
    *size = size_t(box - header);
    p_ += box;
    return true;
  }

private:
  const uint8_t *p_;
  const uint8_t *end_;
};

// The first box of `type` inside a payload.
bool find(const uint8_t *data, size_t size, std::string_view type, const uint8_t **payload,
          size_t *payload_size) {
  Boxes boxes(data, size);
  std::string_view t;
  while (boxes.next(&t, payload, payload_size))
    if (t == type)
      return true;
  return false;
}

// Each trak's handler ('vide', 'soun') and timescale into the summary.
void read_moov(const uint8_t *moov, size_t size, FileSummary *out) {
  Boxes traks(moov, size);
  std::string_view type;
  const uint8_t *trak;
  size_t trak_size;
  while (traks.next(&type, &trak, &trak_size)) {
    const uint8_t *tkhd, *mdia, *mdhd, *hdlr;
    size_t tkhd_size, mdia_size, mdhd_size, hdlr_size;
    if (type != "trak" || !find(trak, trak_size, "tkhd", &tkhd, &tkhd_size) || tkhd_size < 24 ||
        !find(trak, trak_size, "mdia", &mdia, &mdia_size) ||
        !find(mdia, mdia_size, "mdhd", &mdhd, &mdhd_size) ||
        !find(mdia, mdia_size, "hdlr", &hdlr, &hdlr_size) || hdlr_size < 12 || mdhd_size < 4)
      continue;
    // mdhd: version, flags, then times of 4 (version 0) or 8 bytes, then the timescale.
    const size_t at = mdhd[0] == 1 ? 4 + 16 : 4 + 8;
    if (mdhd_size < at + 4)
      continue;
    const uint32_t timescale = be32(mdhd + at);
    // tkhd: version, flags, then two times of 4 (version 0) or 8 bytes, then the track's id.
    const uint32_t id = be32(tkhd + (tkhd[0] == 1 ? 20 : 12));
    const std::string_view handler(reinterpret_cast<const char *>(hdlr + 8), 4);
    if (handler == "vide")
      out->video_timescale = timescale, out->video_track = id;
    else if (handler == "soun")
      out->audio_timescale = timescale, out->audio_track = id;
  }
}

// One traf: its track, where it starts (tfdt) and how long its samples last, in its timescale.
struct Run {
  uint32_t track = 0;
  uint64_t start = 0, length = 0;
};

bool read_traf(const uint8_t *traf, size_t size, Run *run) {
  const uint8_t *tfhd, *tfdt, *trun;
  size_t tfhd_size, tfdt_size, trun_size;
  if (!find(traf, size, "tfhd", &tfhd, &tfhd_size) || tfhd_size < 8 ||
      !find(traf, size, "tfdt", &tfdt, &tfdt_size) || tfdt_size < 8 ||
      !find(traf, size, "trun", &trun, &trun_size) || trun_size < 8)
    return false;
  run->track = be32(tfhd + 4);
  run->start = tfdt[0] == 1 ? (tfdt_size < 12 ? 0 : be64(tfdt + 4)) : be32(tfdt + 4);
  const uint32_t flags = be32(trun) & 0xffffff;
  const uint64_t count = be32(trun + 4);
  size_t at = 8 + (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
  const size_t per_sample =
      4 * (!!(flags & 0x100) + !!(flags & 0x200) + !!(flags & 0x400) + !!(flags & 0x800));
  if (!(flags & 0x100) || at > trun_size || count > (trun_size - at) / per_sample)
    return false;  // camcast writes every sample's duration
  for (uint64_t i = 0; i < count; i++, at += per_sample)
    run->length += be32(trun + at);
  return true;
}

}  // namespace

FileSummary summarize(const ReadAt &read, uint64_t size) {
  FileSummary out;
  uint64_t offset = 0;
  bool ftyp = false;
  Run last_video, last_audio;  // of the last whole fragment that had each
  Run moof_video, moof_audio;  // of the moof waiting for its mdat
  bool pending_moof = false;
  std::vector<uint8_t> box;
  while (offset + 8 <= size) {
    uint8_t head[16];
    const size_t got = read(offset, head, sizeof head);
    if (got < 8)
      break;
    uint64_t length = be32(head);
    size_t header = 8;
    if (length == 1) {
      if (got < 16)
        break;
      length = be64(head + 8);
      header = 16;
    } else if (length == 0) {
      length = size - offset;
    }
    if (length < header || length > size - offset)
      break;  // cut here
    const std::string_view type(reinterpret_cast<const char *>(head + 4), 4);
    const bool wanted = type == "moov" || type == "moof" || (type == "prft" && !out.first_ntp);
    if (wanted) {
      if (length > kMaxHeaderBox)
        break;
      box.resize(size_t(length - header));
      if (!box.empty() && read(offset + header, box.data(), box.size()) != box.size())
        break;
    }
    if (!ftyp) {
      if (type != "ftyp")
        break;
      ftyp = true;
    } else if (type == "moov") {
      read_moov(box.data(), box.size(), &out);
      out.readable = true;
    } else if (type == "prft" && wanted && box.size() >= 16) {
      out.first_ntp = be64(box.data() + 8);
    } else if (type == "moof" && out.readable) {
      Boxes trafs(box.data(), box.size());
      std::string_view t;
      const uint8_t *traf;
      size_t traf_size;
      moof_video = moof_audio = Run();
      while (trafs.next(&t, &traf, &traf_size)) {
        Run run;
        if (t != "traf" || !read_traf(traf, traf_size, &run))
          continue;
        if (run.track == out.video_track)
          moof_video = run;
        else if (run.track == out.audio_track)
          moof_audio = run;
      }
      pending_moof = true;
    } else if (type == "mdat" && pending_moof) {
      out.fragments++;
      out.whole_bytes = offset + length;
      last_video = moof_video.length ? moof_video : last_video;
      last_audio = moof_audio.length ? moof_audio : last_audio;
      pending_moof = false;
    }
    offset += length;
  }
  if (out.video_timescale && last_video.length)
    out.duration = double(last_video.start + last_video.length) / out.video_timescale;
  else if (out.audio_timescale && last_audio.length)
    out.duration = double(last_audio.start + last_audio.length) / out.audio_timescale;
  return out;
}

}  // namespace camcast::fmp4
