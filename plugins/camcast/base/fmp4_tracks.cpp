#include "fmp4_tracks.h"

#include <gst/pbutils/pbutils.h>

namespace camcast {

bool video_track_from_caps(GstElement *sink, GstCaps *caps, fmp4::VideoTrack *track,
                           h264::AvcConfig *config) {
  GstStructure *s = gst_caps_get_structure(caps, 0);
  const GValue *codec_data = gst_structure_get_value(s, "codec_data");
  GstBuffer *avcc = codec_data ? gst_value_get_buffer(codec_data) : nullptr;
  GstMapInfo map;
  if (!avcc || !gst_buffer_map(avcc, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("H.264 without codec_data in its caps"),
                      ("put h264parse in front of %s", GST_ELEMENT_NAME(sink)));
    return false;
  }
  const bool ok = h264::parse_avcc(map.data, map.size, config);
  track->avcc.assign(map.data, map.data + map.size);
  gst_buffer_unmap(avcc, &map);
  if (!ok) {
    GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("the H.264 codec_data is not a valid avcC record"),
                      (nullptr));
    return false;
  }
  gint width = 0, height = 0;
  gst_structure_get_int(s, "width", &width);
  gst_structure_get_int(s, "height", &height);
  track->width = uint32_t(width);
  track->height = uint32_t(height);
  return true;
}

bool audio_track_from_caps(GstElement *sink, GstCaps *caps, fmp4::AudioTrack *track) {
  GstStructure *s = gst_caps_get_structure(caps, 0);
  gint rate = 0, channels = 0;
  gst_structure_get_int(s, "rate", &rate);
  gst_structure_get_int(s, "channels", &channels);
  if (gst_structure_has_name(s, "audio/x-opus")) {
    fmp4::OpusConfig &o = track->opus;
    guint32 input_rate = 0;
    guint8 ch = 0, family = 0, streams = 0, coupled = 0;
    guint16 pre_skip = 0;
    gint16 gain = 0;
    const GValue *sh = gst_structure_get_value(s, "streamheader");
    GstBuffer *head = sh && GST_VALUE_HOLDS_ARRAY(sh) && gst_value_array_get_size(sh) > 0
                          ? gst_value_get_buffer(gst_value_array_get_value(sh, 0))
                          : nullptr;
    bool ok = head ? gst_codec_utils_opus_parse_header(head, &input_rate, &ch, &family, &streams,
                                                       &coupled, o.mapping, &pre_skip, &gain)
                   : gst_codec_utils_opus_parse_caps(caps, &input_rate, &ch, &family, &streams,
                                                     &coupled, o.mapping);
    if (!ok || ch == 0) {
      GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("Opus caps that cannot be read"),
                        ("%" GST_PTR_FORMAT, caps));
      return false;
    }
    track->codec = fmp4::AudioTrack::Codec::Opus;
    track->rate = 48000;
    track->channels = ch;
    o.channels = ch;
    o.pre_skip = pre_skip;
    o.input_rate = input_rate ? input_rate : 48000;
    o.output_gain = gain;
    o.mapping_family = family;
    o.stream_count = streams;
    o.coupled_count = coupled;
    return true;
  }
  const GValue *codec_data = gst_structure_get_value(s, "codec_data");
  GstBuffer *asc = codec_data ? gst_value_get_buffer(codec_data) : nullptr;
  if (!asc || rate <= 0 || channels <= 0 || gst_buffer_get_size(asc) < 2) {
    GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("AAC without codec_data, rate or channels"),
                      ("put aacparse in front of %s's audio pad", GST_ELEMENT_NAME(sink)));
    return false;
  }
  track->codec = fmp4::AudioTrack::Codec::Aac;
  track->rate = uint32_t(rate);
  track->channels = uint8_t(channels);
  track->aac_config.resize(gst_buffer_get_size(asc));
  gst_buffer_extract(asc, 0, track->aac_config.data(), track->aac_config.size());
  return true;
}

}  // namespace camcast
