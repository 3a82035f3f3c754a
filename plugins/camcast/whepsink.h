// GstWhepSink (`whepsink`): H.264 to browsers and WHEP players over WebRTC.
#pragma once

#include "base/serving_sink.h"

G_BEGIN_DECLS

#define GST_TYPE_WHEP_SINK (gst_whep_sink_get_type())
G_DECLARE_FINAL_TYPE(GstWhepSink, gst_whep_sink, GST, WHEP_SINK, GstServingSink)

GST_ELEMENT_REGISTER_DECLARE(whepsink);

G_END_DECLS
