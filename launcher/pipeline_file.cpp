#include "pipeline_file.h"

#include <glib.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <set>

namespace camcast::launcher {

namespace {

// A resolved value (a launch description) is a few kB; one past this is a mistake.
constexpr size_t kMaxExpanded = 64 * 1024;

std::string trim(const std::string &s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos)
    return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

std::string where(const std::string &path, int line) {
  return path + ":" + std::to_string(line) + ": ";
}

// GLib key-file escapes (\s \n \t \r \\); false for any other.
bool unescape(const std::string &in, std::string *out) {
  out->clear();
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] != '\\') {
      *out += in[i];
      continue;
    }
    if (++i == in.size())
      return false;
    switch (in[i]) {
    case 's': *out += ' '; break;
    case 'n': *out += '\n'; break;
    case 't': *out += '\t'; break;
    case 'r': *out += '\r'; break;
    case '\\': *out += '\\'; break;
    default: return false;
    }
  }
  return true;
}

// A line without its trailing comment: a '#' after a space or tab, outside double quotes, starts
// one (GLib key files have none; these files are meant to be commented as written).
std::string strip_comment(const std::string &line) {
  bool quoted = false;
  for (size_t i = 0; i < line.size(); i++) {
    if (line[i] == '"' && (i == 0 || line[i - 1] != '\\'))
      quoted = !quoted;
    else if (line[i] == '#' && !quoted && i > 0 && (line[i - 1] == ' ' || line[i - 1] == '\t'))
      return line.substr(0, i);
  }
  return line;
}

bool parse_int(const Value &v, int min, int max, int *out) {
  char *end = nullptr;
  const long n = strtol(v.text.c_str(), &end, 10);
  if (v.text.empty() || *end || n < min || n > max)
    return false;
  *out = int(n);
  return true;
}

// The [supervise] group's keys into `s`; each bad one is a problem at its line.
void read_supervise(const std::map<std::string, Value> &supervise, Supervise *s,
                    const std::function<void(int, const std::string &)> &problem) {
  const struct {
    const char *key;
    int max;
    int *field;
  } numbers[] = {{"backoff-initial", 600000, &s->backoff_initial_ms},
                 {"backoff-max", 3600000, &s->backoff_max_ms},
                 {"stall-timeout", 3600, &s->stall_timeout_s},
                 {"linger", 3600, &s->linger_s},
                 {"on-demand-linger", 86400, &s->on_demand_linger_s}};
  for (const auto &entry : supervise) {
    const std::string &key = entry.first;
    const Value &value = entry.second;
    const auto number = std::find_if(std::begin(numbers), std::end(numbers),
                                     [&](const auto &n) { return key == n.key; });
    if (number != std::end(numbers)) {
      if (!parse_int(value, 0, number->max, number->field))
        problem(value.line, key + " must be a whole number from 0 to " +
                                std::to_string(number->max) + ", not \"" + value.text + "\"");
    } else if (key == "restart") {
      if (value.text == "always")
        s->restart = Restart::Always;
      else if (value.text == "on-failure")
        s->restart = Restart::OnFailure;
      else if (value.text == "never")
        s->restart = Restart::Never;
      else
        problem(value.line, "restart is always, on-failure or never, not \"" + value.text + "\"");
    } else if (key == "on-demand") {
      if (value.text == "true" || value.text == "false")
        s->on_demand = value.text == "true";
      else
        problem(value.line, "on-demand is true or false, not \"" + value.text + "\"");
    } else {
      problem(value.line, "unknown key \"" + key +
                              "\" in [supervise]; it takes restart, backoff-initial, backoff-max "
                              "(ms), stall-timeout, linger, on-demand and on-demand-linger (s)");
    }
  }
  if (s->backoff_max_ms < s->backoff_initial_ms)
    s->backoff_max_ms = s->backoff_initial_ms;
}

// `key` is `prefix` (7 characters: "output-", "launch-") and a NAME of lower-case letters,
// digits and '-'.
static bool named(const std::string &key, const char *prefix) {
  return key.rfind(prefix, 0) == 0 && key.size() > 7 &&
         key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-", 7) == std::string::npos;
}

// The [pipeline] group's keys into `out`; each unknown one is a problem at its line.
void read_pipeline(const std::map<std::string, Value> &pipeline, PipelineFile *out,
                   const std::function<void(int, const std::string &)> &problem) {
  for (const auto &[key, value] : pipeline) {
    if (key == "description")
      out->description = value.text;
    else if (key == "launch")
      out->launch = value;
    else if (key == "launch-audio")
      out->launch_audio = value;
    else if (key == "launch-rung")
      out->launch_rung = value;
    else if (key.rfind("launch-audio-", 0) == 0 && named("launch-" + key.substr(13), "launch-"))
      out->part_audio[key.substr(13)] = value;
    else if (named(key, "output-"))
      out->outputs[key.substr(7)] = value;
    else if (named(key, "launch-"))
      out->parts[key.substr(7)] = value;
    else
      problem(value.line, "unknown key \"" + key +
                              "\" in [pipeline]; it takes description, launch, launch-audio, "
                              "launch-rung, launch-NAME, launch-audio-NAME and output-NAME (NAME "
                              "in lower-case letters, digits and '-')");
  }
  for (const auto &[name, value] : out->part_audio) {
    if (!out->parts.count(name))
      problem(value.line, "launch-audio-" + name + " is the sound of a part launch-" + name +
                              ", which this file does not have");
    else if (out->launch_audio.text.empty())
      problem(value.line,
              "launch-audio-" + name + " adds to the sound's branches, which need launch-audio");
  }
}

// A file's logical lines: physical lines joined where one ends in a backslash, each without
// its comment and trailing blanks.
class LineReader {
public:
  explicit LineReader(const std::string &text) : text_(text) {}
  bool done() const { return pos_ >= text_.size(); }
  // The physical line the last logical line ended on (1-based; 0 before the first).
  int line_no() const { return line_no_; }
  std::string next() {
    std::string line;
    while (true) {
      const size_t end = text_.find('\n', pos_);
      std::string physical =
          text_.substr(pos_, end == std::string::npos ? std::string::npos : end - pos_);
      pos_ = end == std::string::npos ? text_.size() : end + 1;
      line_no_++;
      if (!physical.empty() && physical.back() == '\r')
        physical.pop_back();
      physical = strip_comment(physical);
      physical.erase(physical.find_last_not_of(" \t") + 1);
      const bool more = !physical.empty() && physical.back() == '\\' && !done();
      if (more) {
        physical.pop_back();
        physical.erase(physical.find_last_not_of(" \t") + 1);
      }
      line += line.empty() ? physical : " " + trim(physical);
      if (!more)
        return line;
    }
  }

private:
  const std::string &text_;
  size_t pos_ = 0;
  int line_no_ = 0;
};

}  // namespace

bool parse_pipeline_file(const std::string &path, const std::string &text, PipelineFile *out,
                         std::string *error) {
  *out = PipelineFile{};
  out->path = path;
  std::string base = path.substr(path.find_last_of('/') + 1);
  out->name = base.size() > 9 && base.compare(base.size() - 9, 9, ".pipeline") == 0
                  ? base.substr(0, base.size() - 9)
                  : base;
  // Every problem, reported together in line order.
  std::vector<std::pair<int, std::string>> problems;
  auto problem = [&](int line, const std::string &what) { problems.emplace_back(line, what); };
  std::string group;
  std::map<std::string, Value> pipeline, supervise;
  std::set<std::string> groups_seen;
  LineReader lines(text);
  while (!lines.done()) {
    const int first_line = lines.line_no() + 1;
    const std::string t = trim(lines.next());
    if (t.empty() || t[0] == '#')
      continue;
    if (t[0] == '[') {
      group = t.back() == ']' ? t.substr(1, t.size() - 2) : "";
      if (t.back() != ']')
        problem(first_line, "a group header must end with ']': " + t);
      else if (group != "pipeline" && group != "variables" && group != "supervise")
        problem(first_line, "unknown group [" + group +
                                "]; a pipeline file has [pipeline], [variables] and [supervise]");
      else if (!groups_seen.insert(group).second)
        problem(first_line, "[" + group + "] appears twice");
      continue;
    }
    const size_t eq = t.find('=');
    const std::string key = trim(t.substr(0, eq));
    Value value{"", first_line};
    if (eq == std::string::npos) {
      problem(first_line, "expected KEY = VALUE, a [group] or a # comment, not: " + t);
    } else if (key.empty()) {
      problem(first_line, "a key is missing before '='");
    } else if (group.empty()) {
      problem(first_line, "\"" + key + "\" comes before any [group]");
    } else if (!unescape(trim(t.substr(eq + 1)), &value.text)) {
      problem(first_line, "bad escape in the value (GLib key files know \\s \\n \\t \\r \\\\)");
    } else if (group == "pipeline" || group == "supervise" || group == "variables") {
      auto &target = group == "pipeline"    ? pipeline
                     : group == "supervise" ? supervise
                                            : out->variables;
      if (!target.emplace(key, value).second)
        problem(first_line, "\"" + key + "\" is set twice in [" + group + "]");
    }
  }

  read_pipeline(pipeline, out, problem);
  if (out->launch.text.empty())
    problem(lines.line_no(),
            "no launch line: [pipeline] needs launch = <a gst-launch-1.0 description>");
  read_supervise(supervise, &out->supervise, problem);
  if (problems.empty())
    return true;
  std::stable_sort(problems.begin(), problems.end(),
                   [](const auto &a, const auto &b) { return a.first < b.first; });
  error->clear();
  for (const auto &[line, what] : problems)
    *error += (error->empty() ? "" : "\n") + where(path, line) + what;
  return false;
}

bool load_pipeline_file(const std::string &path, PipelineFile *out, std::string *error) {
  gchar *contents = nullptr;
  gsize length = 0;
  GError *err = nullptr;
  if (!g_file_get_contents(path.c_str(), &contents, &length, &err)) {
    *error = path + ": " + err->message;
    g_error_free(err);
    return false;
  }
  const std::string text(contents, length);
  g_free(contents);
  return parse_pipeline_file(path, text, out, error);
}

bool resolve_launch(const PipelineFile &file, const std::map<std::string, std::string> &overrides,
                    const std::map<std::string, std::string> &probed, std::string *launch,
                    std::string *error, std::map<std::string, std::string> *used) {
  return resolve_value(file, file.launch, overrides, probed, launch, error, used);
}

bool resolve_value(const PipelineFile &file, const Value &text,
                   const std::map<std::string, std::string> &overrides,
                   const std::map<std::string, std::string> &probed, std::string *out,
                   std::string *error, std::map<std::string, std::string> *used) {
  // Each variable is expanded once (`done`), and no text past kMaxExpanded: a file whose
  // variables each use the one before twice would otherwise take 2^n steps and bytes.
  std::map<std::string, std::string> done;
  std::function<bool(const std::string &, int, std::vector<std::string> &, std::string *)> expand =
      [&](const std::string &in, int line, std::vector<std::string> &stack, std::string *result) {
        result->clear();
        size_t pos = 0;
        while (true) {
          const size_t start = in.find("${", pos);
          if (start == std::string::npos) {
            *result += in.substr(pos);
            return true;
          }
          *result += in.substr(pos, start - pos);
          const size_t end = in.find('}', start);
          if (end == std::string::npos) {
            *error = where(file.path, line) + "\"${\" without a closing \"}\"";
            return false;
          }
          const std::string name = in.substr(start + 2, end - start - 2);
          pos = end + 1;
          if (std::find(stack.begin(), stack.end(), name) != stack.end()) {
            *error = where(file.path, line) + "${" + name + "} refers to itself";
            return false;
          }
          std::string value;
          int value_line = line;
          if (auto o = overrides.find(name); o != overrides.end()) {
            value = o->second;
          } else if (auto v = file.variables.find(name); v != file.variables.end()) {
            value = v->second.text;
            value_line = v->second.line;
          } else if (auto p = probed.find(name); p != probed.end()) {
            value = p->second;
          } else {
            *error = where(file.path, line) + "${" + name +
                     "} is not defined: add it under "
                     "[variables] or pass --set " +
                     name + "=VALUE";
            return false;
          }
          auto known = done.find(name);
          if (known == done.end()) {
            stack.push_back(name);
            std::string expanded;
            const bool ok = expand(value, value_line, stack, &expanded);
            stack.pop_back();
            if (!ok)
              return false;
            known = done.emplace(name, std::move(expanded)).first;
            if (used)
              (*used)[name] = known->second;
          }
          *result += known->second;
          if (result->size() > kMaxExpanded) {
            *error = where(file.path, line) + "${" + name + "} makes this value longer than " +
                     std::to_string(kMaxExpanded / 1024) +
                     " KiB (variables that use others many times over?)";
            return false;
          }
        }
      };
  std::vector<std::string> stack;
  return expand(text.text, text.line, stack, out);
}

bool parse_ladder(const std::string &text, int top_width, std::vector<LadderRung> *rungs,
                  std::string *why) {
  rungs->clear();
  const std::string t = trim(text);
  if (t.empty() || t == "off")
    return true;
  int above = top_width;
  std::vector<std::string> items;
  for (size_t at = 0; at <= t.size();) {
    const size_t comma = std::min(t.find(',', at), t.size());
    items.push_back(t.substr(at, comma - at));
    at = comma + 1;
  }
  for (const std::string &item : items) {
    LadderRung r;
    char rest = 0;
    if (sscanf(trim(item).c_str(), "%dx%d@%d%c", &r.width, &r.height, &r.kbps, &rest) != 3 ||
        r.width < 16 || r.height < 16 || r.width > 4096 || r.height > 4096 || r.width % 2 ||
        r.height % 2 || r.kbps < 16 || r.kbps > 100000) {
      *why = "\"" + trim(item) +
             "\" is not a rung: write WIDTHxHEIGHT@KBITS (even sizes), like 640x360@500, or off";
      return false;
    }
    if (r.width >= top_width)
      continue;  // no smaller than the camera's picture: not a lower rung
    if (r.width >= above) {
      *why = "the rungs go from the largest down: " + trim(item) + " comes after a smaller one";
      return false;
    }
    above = r.width;
    rungs->push_back(r);
  }
  if (rungs->size() > 3) {
    *why = "a ladder has at most three rungs below the top";
    return false;
  }
  return true;
}

// 16x16 macroblocks in a picture of `width` x `height` (H.264 rounds each up).
static int64_t macroblocks(int width, int height) {
  return int64_t((width + 15) / 16) * ((height + 15) / 16);
}

bool resolve_rungs(const PipelineFile &file, const std::map<std::string, std::string> &overrides,
                   const std::map<std::string, std::string> &probed, std::string *out,
                   std::string *error) {
  out->clear();
  if (file.launch_rung.text.empty())
    return true;
  const int line = file.launch_rung.line;
  std::string ladder, width, why;
  if (!resolve_value(file, {"${ladder}", line}, overrides, probed, &ladder, error) ||
      !resolve_value(file, {"${width}", line}, overrides, probed, &width, error))
    return false;
  std::vector<LadderRung> rungs;
  if (!parse_ladder(ladder, atoi(width.c_str()), &rungs, &why)) {
    const auto v = file.variables.find("ladder");
    *error = (overrides.count("ladder")   ? std::string("--set ladder")
              : v != file.variables.end() ? where(file.path, v->second.line) + "ladder"
                                          : std::string("ladder")) +
             ": " + why;
    return false;
  }
  // An encoder with a budget (${h264enc-budget}, macroblocks a second for all its streams: the
  // Pi's) takes the top and then each rung while they fit; a rung past it goes to
  // ${rung-h264enc-beyond} (software), unless the file or --set chose the rungs' encoder.
  const auto budget = probed.find("h264enc-budget");
  const bool chosen = overrides.count("rung-h264enc") || file.variables.count("rung-h264enc");
  int64_t spent = 0, limit = 0, fps = 0;
  if (budget != probed.end() && probed.count("rung-h264enc-beyond") && !chosen) {
    std::string height, framerate;
    if (!resolve_value(file, {"${height}", line}, overrides, probed, &height, error) ||
        !resolve_value(file, {"${framerate}", line}, overrides, probed, &framerate, error))
      return false;
    limit = atoll(budget->second.c_str());
    fps = atoi(framerate.c_str());
    spent = macroblocks(atoi(width.c_str()), atoi(height.c_str())) * fps;
  }
  for (size_t i = 0; i < rungs.size(); i++) {
    std::map<std::string, std::string> rung = overrides;
    if (limit) {
      const int64_t need = macroblocks(rungs[i].width, rungs[i].height) * fps;
      if (spent + need > limit)
        rung["rung-h264enc"] = "${rung-h264enc-beyond}";
      else
        spent += need;
    }
    rung["rung"] = std::to_string(i + 1);
    rung["rung-width"] = std::to_string(rungs[i].width);
    rung["rung-height"] = std::to_string(rungs[i].height);
    rung["bitrate"] = std::to_string(rungs[i].kbps);
    std::string text;
    // (not into `used`: the rung's bitrate is not the stream's)
    if (!resolve_value(file, file.launch_rung, rung, probed, &text, error))
      return false;
    *out += " " + text;
  }
  return true;
}

std::set<std::string> variable_names(const PipelineFile &file) {
  std::set<std::string> names;
  auto uses = [&](const std::string &text) {
    for (size_t at = text.find("${"); at != std::string::npos; at = text.find("${", at + 2))
      if (const size_t end = text.find('}', at); end != std::string::npos)
        names.insert(text.substr(at + 2, end - at - 2));
  };
  for (const Value *v : {&file.launch, &file.launch_audio, &file.launch_rung})
    uses(v->text);
  for (const auto &[name, value] : file.outputs)
    uses(value.text);
  for (const auto &[name, value] : file.part_audio)
    uses(value.text);
  for (const auto &[name, value] : file.parts) {
    names.insert(name);  // ${NAME}: off leaves it out
    uses(value.text);
  }
  for (const auto &[name, value] : file.variables) {
    names.insert(name);
    uses(value.text);
  }
  return names;
}

}  // namespace camcast::launcher
