// GstWhipPublishSink (`whippublishsink`): publishes H.264 to a WHIP server over WebRTC.
#pragma once

#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_WHIP_PUBLISH_SINK (gst_whip_publish_sink_get_type())
G_DECLARE_FINAL_TYPE(GstWhipPublishSink, gst_whip_publish_sink, GST, WHIP_PUBLISH_SINK, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE(whippublishsink);

G_END_DECLS
