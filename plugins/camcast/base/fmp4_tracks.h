// The fMP4 tracks of a sink's caps, for the elements that write fragmented MP4 (msesink to
// browsers, recordsink to disk): H.264 as h264parse gives it, Opus or AAC.
#pragma once

#include "formats/fmp4.h"
#include "formats/h264.h"

#include <gst/gst.h>

namespace camcast {

// H.264 (stream-format avc): the track, and the decoder configuration read from its codec_data.
// False, with an error posted on `sink` saying what is wrong, for caps it cannot read.
bool video_track_from_caps(GstElement *sink, GstCaps *caps, fmp4::VideoTrack *track,
                           h264::AvcConfig *config);
// Opus (RFC 7845: always 48 kHz on the wire) or raw AAC with its codec_data; the same.
bool audio_track_from_caps(GstElement *sink, GstCaps *caps, fmp4::AudioTrack *track);

// The caps a sound input of such an element takes.
#define CAMCAST_FMP4_AUDIO_CAPS                       \
  "audio/x-opus, channel-mapping-family=(int)[0,1]; " \
  "audio/mpeg, mpegversion=(int)4, stream-format=(string)raw"

}  // namespace camcast
