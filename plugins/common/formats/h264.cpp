#include "formats/h264.h"

#include <cstdio>

namespace camcast::h264 {

bool parse_avcc(const uint8_t *d, size_t size, AvcConfig *out) {
  if (size < 7 || d[0] != 1)
    return false;
  AvcConfig c;
  c.profile = d[1];
  c.constraints = d[2];
  c.level = d[3];
  c.nal_length_size = (d[4] & 0x3) + 1;
  size_t pos = 6;  // after version, profile, compatibility, level, length size, SPS count
  auto read_sets = [&](size_t count, std::vector<std::vector<uint8_t>> &sets) {
    for (size_t i = 0; i < count; i++) {
      if (pos + 2 > size)
        return false;
      size_t len = size_t(d[pos]) << 8 | d[pos + 1];
      pos += 2;
      if (pos + len > size)
        return false;
      sets.emplace_back(d + pos, d + pos + len);
      pos += len;
    }
    return true;
  };
  if (!read_sets(d[5] & 0x1F, c.sps) || pos >= size)
    return false;
  size_t n_pps = d[pos++];
  if (!read_sets(n_pps, c.pps))
    return false;
  *out = std::move(c);
  return true;
}

std::string profile_level_id(const AvcConfig &c) {
  char s[8];
  snprintf(s, sizeof s, "%02x%02x%02x", c.profile, c.constraints, c.level);
  return s;
}

std::string codec_string(const AvcConfig &c) {
  return "avc1." + profile_level_id(c);
}

const char *unplayable_profile(const AvcConfig &c) {
  switch (c.profile) {  // profile_idc, H.264 Annex A
  case 110: return "High 10";
  case 122: return "High 4:2:2";
  case 244: return "High 4:4:4 Predictive";
  case 44: return "CAVLC 4:4:4 Intra";
  default: return nullptr;
  }
}

namespace {

const uint8_t kStartCode[4] = {0, 0, 0, 1};

void append_start_code(GstBuffer *out) {
  gst_buffer_append_memory(
      out, gst_memory_new_wrapped(GST_MEMORY_FLAG_READONLY, const_cast<uint8_t *>(kStartCode), 4, 0,
                                  4, nullptr, nullptr));
}

void append_copy(GstBuffer *out, const std::vector<uint8_t> &bytes) {
  append_start_code(out);
  GstBuffer *b = gst_buffer_new_memdup(bytes.data(), bytes.size());
  gst_buffer_append_memory(out, gst_buffer_get_memory(b, 0));
  gst_buffer_unref(b);
}

}  // namespace

bool config_from_caps(const GstCaps *caps, AvcConfig *out) {
  const GValue *value =
      caps ? gst_structure_get_value(gst_caps_get_structure(caps, 0), "codec_data") : nullptr;
  GstBuffer *record =
      value && GST_VALUE_HOLDS_BUFFER(value) ? gst_value_get_buffer(value) : nullptr;
  GstMapInfo map;
  if (!record || !gst_buffer_map(record, &map, GST_MAP_READ))
    return false;
  const bool parsed = parse_avcc(map.data, map.size, out);
  gst_buffer_unmap(record, &map);
  return parsed;
}

GstBuffer *annexb_from_avc(GstBuffer *au, const AvcConfig &config, bool parameter_sets) {
  // The unit's NAL units: where each starts and its length.
  std::vector<std::pair<size_t, size_t>> nals;
  const size_t size = gst_buffer_get_size(au);
  const unsigned n = config.nal_length_size;
  size_t pos = 0;
  bool has_sps = false;
  while (pos + n <= size) {
    uint8_t prefix[4];
    gst_buffer_extract(au, pos, prefix, n);
    size_t len = 0;
    for (unsigned i = 0; i < n; i++)
      len = (len << 8) | prefix[i];
    pos += n;
    if (len == 0 || pos + len > size)
      return nullptr;
    uint8_t header = 0;
    gst_buffer_extract(au, pos, &header, 1);
    has_sps = has_sps || (header & 0x1f) == 7;
    nals.emplace_back(pos, len);
    pos += len;
  }
  if (pos != size)
    return nullptr;
  GstBuffer *out = gst_buffer_new();
  if (parameter_sets && !has_sps) {
    for (const auto &sps : config.sps)
      append_copy(out, sps);
    for (const auto &pps : config.pps)
      append_copy(out, pps);
  }
  for (const auto &[at, len] : nals) {
    append_start_code(out);
    out = gst_buffer_append(out, gst_buffer_copy_region(au, GST_BUFFER_COPY_MEMORY, at, len));
  }
  gst_buffer_copy_into(
      out, au, GstBufferCopyFlags(GST_BUFFER_COPY_FLAGS | GST_BUFFER_COPY_TIMESTAMPS), 0, -1);
  return out;
}

}  // namespace camcast::h264
