#include "graph.h"

#include <cstring>

namespace camcast::graph {

std::vector<GstPad *> pads(GstElement *element, GstPadDirection direction) {
  std::vector<GstPad *> found;
  GstIterator *it = direction == GST_PAD_SINK ? gst_element_iterate_sink_pads(element)
                                              : gst_element_iterate_src_pads(element);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    found.push_back(GST_PAD(g_value_dup_object(&item)));
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  return found;
}

void unref_all(std::vector<GstPad *> *pads) {
  for (GstPad *pad : *pads)
    gst_object_unref(pad);
  pads->clear();
}

GstElement *across(GstPad *pad, GstPad **peer) {
  GstPad *other = gst_pad_get_peer(pad);
  GstElement *element = other ? gst_pad_get_parent_element(other) : nullptr;
  if (!element)
    gst_clear_object(&other);
  if (peer)
    *peer = other;
  else if (other)
    gst_object_unref(other);
  return element;
}

bool made_by(GstElement *element, const char *factory) {
  GstElementFactory *f = gst_element_get_factory(element);
  return f && strcmp(GST_OBJECT_NAME(f), factory) == 0;
}

GstElement *find_upstream(GstPad *pad, const std::function<bool(GstElement *)> &wanted, int depth) {
  GstElement *element = depth > 0 ? across(pad) : nullptr;
  if (!element || wanted(element))
    return element;
  GstElement *found = nullptr;
  std::vector<GstPad *> inputs = pads(element, GST_PAD_SINK);
  for (GstPad *input : inputs)
    if (!found)
      found = find_upstream(input, wanted, depth - 1);
  unref_all(&inputs);
  gst_object_unref(element);
  return found;
}

}  // namespace camcast::graph
