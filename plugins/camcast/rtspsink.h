// GstRtspSink (`rtspsink`): H.264 to RTSP clients (VLC, ffmpeg, Home Assistant, Frigate, NVRs).
#pragma once

#include "base/serving_sink.h"

G_BEGIN_DECLS

#define GST_TYPE_RTSP_SINK (gst_rtsp_sink_get_type())
G_DECLARE_FINAL_TYPE(GstRtspSink, gst_rtsp_sink, GST, RTSP_SINK, GstServingSink)

GST_ELEMENT_REGISTER_DECLARE(rtspsink);

G_END_DECLS
