// GstWsSink (`wssink`): any stream to WebSocket clients, one buffer per message.
#pragma once

#include "base/serving_sink.h"

G_BEGIN_DECLS

#define GST_TYPE_WS_SINK (gst_ws_sink_get_type())
G_DECLARE_FINAL_TYPE(GstWsSink, gst_ws_sink, GST, WS_SINK, GstServingSink)

GST_ELEMENT_REGISTER_DECLARE(wssink);

G_END_DECLS
