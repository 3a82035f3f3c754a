// GstJsmpegSink (`jsmpegsink`): MPEG-1 to JSMpeg players, as MPEG-TS or the legacy jsmp protocol.
#pragma once

#include "base/serving_sink.h"

G_BEGIN_DECLS

typedef enum {
  GST_JSMPEG_SINK_MODE_MPEGTS = 0,
  GST_JSMPEG_SINK_MODE_JSMP = 1,
} GstJsmpegSinkMode;

#define GST_TYPE_JSMPEG_SINK_MODE (gst_jsmpeg_sink_mode_get_type())
GType gst_jsmpeg_sink_mode_get_type(void);

#define GST_TYPE_JSMPEG_SINK (gst_jsmpeg_sink_get_type())
G_DECLARE_FINAL_TYPE(GstJsmpegSink, gst_jsmpeg_sink, GST, JSMPEG_SINK, GstServingSink)

GST_ELEMENT_REGISTER_DECLARE(jsmpegsink);

G_END_DECLS
