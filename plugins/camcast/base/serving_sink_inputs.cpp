// GstServingSink's inputs on request, by template: "audio" (serving_sink_audio.cpp) and "rung_%u"
// (serving_sink_rungs.cpp), and the class functions that add them.
#include "serving_sink_private.h"

GstPad *gst_serving_sink_request_pad(GstElement *element, GstPadTemplate *templ, const gchar *name,
                                     const GstCaps *) {
  if (g_str_equal(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "audio"))
    return gst_serving_sink_request_audio_pad(element, templ);
  if (g_str_equal(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "rung_%u"))
    return gst_serving_sink_request_rung_pad(element, templ, name);
  return nullptr;
}

static void add_input(GstServingSinkClass *klass, GstStaticPadTemplate *templ) {
  GstElementClass *element_class = reinterpret_cast<GstElementClass *>(klass);
  gst_element_class_add_static_pad_template(element_class, templ);
  element_class->request_new_pad = gst_serving_sink_request_pad;
  element_class->release_pad = gst_serving_sink_release_pad;
}

void gst_serving_sink_class_add_rung_inputs(GstServingSinkClass *klass,
                                            GstStaticPadTemplate *templ) {
  add_input(klass, templ);
}

void gst_serving_sink_class_add_audio_input(GstServingSinkClass *klass,
                                            GstStaticPadTemplate *templ) {
  add_input(klass, templ);
}

void gst_serving_sink_release_pad(GstElement *element, GstPad *pad) {
  if (g_str_has_prefix(GST_PAD_NAME(pad), "rung_"))
    gst_serving_sink_release_rung_pad(element, pad);
  else
    gst_serving_sink_release_audio_pad(element, pad);
}
