// GstMjpegSink (`mjpegsink`): JPEG to browsers — snapshots, MJPEG, and pull over WebSocket.
#pragma once

#include "base/serving_sink.h"

G_BEGIN_DECLS

#define GST_TYPE_MJPEG_SINK (gst_mjpeg_sink_get_type())
G_DECLARE_FINAL_TYPE(GstMjpegSink, gst_mjpeg_sink, GST, MJPEG_SINK, GstServingSink)

GST_ELEMENT_REGISTER_DECLARE(mjpegsink);

G_END_DECLS
