// H.264 as it travels, read without a parser: a parser (h264parse) drops what comes before the
// first keyframe, so a test that looks after one cannot see a stream that starts mid-GOP.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <vector>

namespace camcast::test {

// The NAL unit types of Annex B data (00 00 01 start codes), in order.
inline std::vector<int> annexb_nal_types(const guint8 *data, gsize size) {
  std::vector<int> types;
  for (gsize i = 0; i + 3 < size; i++)
    if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
      types.push_back(data[i + 3] & 0x1f);
      i += 3;
    }
  return types;
}

// The NAL unit types of AVC data (each unit after its 4-byte big-endian length), in order.
inline std::vector<int> avc_nal_types(const guint8 *data, gsize size) {
  std::vector<int> types;
  for (gsize i = 0; i + 4 < size;) {
    const gsize length = (gsize(data[i]) << 24) | (gsize(data[i + 1]) << 16) |
                         (gsize(data[i + 2]) << 8) | data[i + 3];
    types.push_back(data[i + 4] & 0x1f);
    i += 4 + length;
  }
  return types;
}

// Watches the first buffer through `pad` (a whole access unit, as a depayloader or a demuxer
// gives it, Annex B or AVC by the pad's caps): `*idr` becomes 1 if it holds an IDR slice (type
// 5), where a decoder can start, else 0. It stays -1 until a buffer came.
inline void watch_first_access_unit(GstPad *pad, std::atomic<int> *idr) {
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *pad, GstPadProbeInfo *info, gpointer data) {
        GstCaps *caps = gst_pad_get_current_caps(pad);
        const char *format =
            caps ? gst_structure_get_string(gst_caps_get_structure(caps, 0), "stream-format")
                 : nullptr;
        const bool avc = g_strcmp0(format, "avc") == 0;
        gst_clear_caps(&caps);
        GstMapInfo map;
        GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
        int found = 0;
        if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
          for (int type :
               avc ? avc_nal_types(map.data, map.size) : annexb_nal_types(map.data, map.size))
            found = found || type == 5;
          gst_buffer_unmap(buffer, &map);
        }
        static_cast<std::atomic<int> *>(data)->store(found);
        return GST_PAD_PROBE_REMOVE;
      },
      idr, nullptr);
}

}  // namespace camcast::test
