// GstOnvifSink (`onvifsink`): the camera's ONVIF device and media services, for NVRs.
#pragma once

#include "base/serving_sink.h"

G_BEGIN_DECLS

#define GST_TYPE_ONVIF_SINK (gst_onvif_sink_get_type())
G_DECLARE_FINAL_TYPE(GstOnvifSink, gst_onvif_sink, GST, ONVIF_SINK, GstServingSink)

GST_ELEMENT_REGISTER_DECLARE(onvifsink);

G_END_DECLS
