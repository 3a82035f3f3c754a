// GstMseSink (`msesink`): H.264 to browsers as fragmented MP4 or Annex-B over WebSocket.
#pragma once

#include "base/serving_sink.h"

G_BEGIN_DECLS

typedef enum {
  GST_MSE_SINK_FORMAT_FMP4 = 0,
  GST_MSE_SINK_FORMAT_ANNEXB = 1,
} GstMseSinkFormat;

#define GST_TYPE_MSE_SINK_FORMAT (gst_mse_sink_format_get_type())
GType gst_mse_sink_format_get_type(void);

#define GST_TYPE_MSE_SINK (gst_mse_sink_get_type())
G_DECLARE_FINAL_TYPE(GstMseSink, gst_mse_sink, GST, MSE_SINK, GstServingSink)

GST_ELEMENT_REGISTER_DECLARE(msesink);

G_END_DECLS
