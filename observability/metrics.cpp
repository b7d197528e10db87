#include "observability/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace ordermesh::observability {

namespace {

/// Adds `d` to an atomic double (no fetch_add for floating point before C++20).
void atomic_add(std::atomic<double>& target, double d) noexcept {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + d, std::memory_order_relaxed)) {
  }
}

/// Numbers as Prometheus (Go's ParseFloat) reads them: NaN, +Inf, -Inf; integral values without
/// an exponent (1000000, not 1e+06); others in the shortest form that reads back exactly, in
/// printf's %g style (0.0005, 1.5e-07).
std::string format_number(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) { // below 2^53: exact in int64
    return std::to_string(static_cast<std::int64_t>(v));
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::general);
  return std::string(buffer, result.ptr);
}

/// HELP text escapes backslash and newline; label values also escape the double quote.
void append_escaped(std::string& out, std::string_view text, bool escape_quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

bool is_name_char(char c, bool first, bool allow_colon) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return letter || (allow_colon && c == ':') || (!first && c >= '0' && c <= '9');
}

bool matches_name_grammar(const std::string& name, bool allow_colon) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i], i == 0, allow_colon)) {
      return false;
    }
  }
  return true;
}

[[noreturn]] void fail(const std::string& metric, const std::string& what) {
  throw std::invalid_argument("metric " + metric + ": " + what);
}

void validate_names(const std::string& name, const std::vector<std::string>& label_names,
                    bool is_histogram) {
  if (!matches_name_grammar(name, true)) {
    fail("'" + name + "'", "the name must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  std::set<std::string> seen;
  for (const auto& label : label_names) {
    if (!matches_name_grammar(label, false)) {
      fail(name, "label name '" + label + "' must match [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if (label.rfind("__", 0) == 0) {
      fail(name, "label name '" + label + "' starts with __, which Prometheus reserves");
    }
    if (is_histogram && label == "le") {
      fail(name, "label name 'le' is reserved for histogram buckets");
    }
    if (!seen.insert(label).second) {
      fail(name, "label name '" + label + "' appears twice");
    }
  }
}

void validate_bounds(const std::string& name, const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      fail(name, "bucket bounds must be finite (the +Inf bucket is implicit)");
    }
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      fail(name, "bucket bounds must be strictly increasing");
    }
  }
}

/// A `#` comment line (Prometheus ignores them) for what went wrong during a scrape.
void append_comment(std::string& out, const std::string& text) {
  out += "# ";
  for (const char c : text) {
    out += c == '\n' ? ' ' : c;
  }
  out += '\n';
}

/// One line: `name{labels} value`, or `name value` without labels.
void append_sample(std::string& out, std::string_view name, const std::string& labels,
                   std::string_view value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

/// A counter or gauge family whose samples a function returns at render time.
class callback_family final : public detail::family_base {
public:
  callback_family(std::string name, std::string help, std::vector<std::string> label_names,
                  callback_type type, callback_fn fn)
      : family_base(std::move(name), std::move(help), std::move(label_names)), type_(type),
        fn_(std::move(fn)) {}

  void render(std::string& out) const override {
    write_header(out, type_ == callback_type::counter ? "counter" : "gauge");
    std::vector<callback_sample> samples;
    try {
      samples = fn_();
    } catch (const std::exception& e) {
      append_comment(out, "callback of " + name() + " failed: " + e.what());
      return;
    }
    for (const auto& sample : samples) {
      if (sample.labels.size() != label_names().size()) {
        append_comment(out, "callback of " + name() + " returned " +
                                std::to_string(sample.labels.size()) + " label values, expected " +
                                std::to_string(label_names().size()));
        continue;
      }
      append_sample(out, name(), render_labels(sample.labels), format_number(sample.value));
    }
  }

private:
  callback_type type_;
  callback_fn fn_;
};

} // namespace

const std::vector<double>& default_latency_buckets() {
  static const std::vector<double> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return bounds;
}

void counter::write_samples(std::string& out, const std::string& name,
                            const std::string& labels) const {
  append_sample(out, name, labels, std::to_string(value()));
}

void gauge::inc(double d) noexcept {
  atomic_add(value_, d);
}

void gauge::write_samples(std::string& out, const std::string& name,
                          const std::string& labels) const {
  append_sample(out, name, labels, format_number(value()));
}

histogram::histogram(const options& opts) : bounds_(opts.bounds), counts_(opts.bounds.size() + 1) {}

void histogram::observe(double v) noexcept {
  const auto bucket =
      std::isnan(v) ? bounds_.size()
                    : static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                               bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

histogram::snapshot_t histogram::snapshot() const {
  snapshot_t result;
  result.cumulative.reserve(counts_.size());
  for (const auto& count : counts_) {
    result.count += count.load(std::memory_order_relaxed);
    result.cumulative.push_back(result.count);
  }
  result.sum = sum_.load(std::memory_order_relaxed);
  return result;
}

void histogram::write_samples(std::string& out, const std::string& name,
                              const std::string& labels) const {
  const auto snap = snapshot();
  const std::string separator = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
    out += name;
    out += "_bucket{";
    out += labels;
    out += separator;
    out += "le=\"";
    if (i < bounds_.size()) {
      out += format_number(bounds_[i]);
    } else {
      out += "+Inf";
    }
    out += "\"} ";
    out += std::to_string(snap.cumulative[i]);
    out += '\n';
  }
  append_sample(out, name + "_sum", labels, format_number(snap.sum));
  append_sample(out, name + "_count", labels, std::to_string(snap.count));
}

namespace detail {

family_base::family_base(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void family_base::write_header(std::string& out, std::string_view type_name) const {
  if (!help_.empty()) {
    out += "# HELP ";
    out += name_;
    out += ' ';
    append_escaped(out, help_, false);
    out += '\n';
  }
  out += "# TYPE ";
  out += name_;
  out += ' ';
  out += type_name;
  out += '\n';
}

std::string family_base::render_labels(const label_values& values) const {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += label_names_[i];
    out += "=\"";
    append_escaped(out, values[i], true);
    out += '"';
  }
  return out;
}

void family_base::check_arity(const label_values& values) const {
  if (values.size() != label_names_.size()) {
    fail(name_, "got " + std::to_string(values.size()) + " label values, expected " +
                    std::to_string(label_names_.size()));
  }
}

} // namespace detail

template <typename Metric>
metric_family<Metric>&
metrics_registry::add_family(const std::string& name, const std::string& help,
                             std::vector<std::string> label_names, typename Metric::options opts) {
  constexpr bool is_histogram = std::is_same_v<Metric, histogram>;
  validate_names(name, label_names, is_histogram);
  if constexpr (is_histogram) {
    validate_bounds(name, opts.bounds);
  }
  std::lock_guard<std::mutex> lock{mutex_};
  if (const auto found = by_name_.find(name); found != by_name_.end()) {
    auto* existing = dynamic_cast<metric_family<Metric>*>(found->second);
    if (existing == nullptr || existing->help() != help || existing->label_names() != label_names ||
        !(existing->options() == opts)) {
      fail(name, "already registered with another type, help, label names or buckets");
    }
    return *existing;
  }
  std::vector<std::string> names{name};
  if constexpr (is_histogram) {
    names.insert(names.end(), {name + "_bucket", name + "_sum", name + "_count"});
  }
  reserve_names(name, names);
  auto family =
      std::make_unique<metric_family<Metric>>(name, help, std::move(label_names), std::move(opts));
  auto& result = *family;
  by_name_.emplace(name, family.get());
  families_.push_back(std::move(family));
  return result;
}

void metrics_registry::reserve_names(const std::string& family,
                                     const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (taken_names_.count(n) != 0) {
      fail(family, "the sample name '" + n + "' is already used by another family");
    }
  }
  taken_names_.insert(names.begin(), names.end());
}

counter_family& metrics_registry::add_counter_family(const std::string& name,
                                                     const std::string& help,
                                                     std::vector<std::string> label_names) {
  return add_family<counter>(name, help, std::move(label_names), {});
}

gauge_family& metrics_registry::add_gauge_family(const std::string& name, const std::string& help,
                                                 std::vector<std::string> label_names) {
  return add_family<gauge>(name, help, std::move(label_names), {});
}

histogram_family& metrics_registry::add_histogram_family(const std::string& name,
                                                         const std::string& help,
                                                         std::vector<std::string> label_names,
                                                         std::vector<double> bounds) {
  return add_family<histogram>(name, help, std::move(label_names), {std::move(bounds)});
}

counter& metrics_registry::add_counter(const std::string& name, const std::string& help) {
  return add_counter_family(name, help, {}).with({});
}

gauge& metrics_registry::add_gauge(const std::string& name, const std::string& help) {
  return add_gauge_family(name, help, {}).with({});
}

histogram& metrics_registry::add_histogram(const std::string& name, const std::string& help,
                                           std::vector<double> bounds) {
  return add_histogram_family(name, help, {}, std::move(bounds)).with({});
}

void metrics_registry::add_callback_family(const std::string& name, const std::string& help,
                                           callback_type type, std::vector<std::string> label_names,
                                           callback_fn fn) {
  validate_names(name, label_names, false);
  if (!fn) {
    fail(name, "the callback is empty");
  }
  std::lock_guard<std::mutex> lock{mutex_};
  if (by_name_.count(name) != 0) {
    fail(name, "already registered (a callback family cannot be registered twice)");
  }
  reserve_names(name, {name});
  auto family =
      std::make_unique<callback_family>(name, help, std::move(label_names), type, std::move(fn));
  by_name_.emplace(name, family.get());
  families_.push_back(std::move(family));
}

std::string metrics_registry::render() const {
  std::vector<const detail::family_base*> families;
  {
    std::lock_guard<std::mutex> lock{mutex_};
    families.reserve(families_.size());
    for (const auto& family : families_) {
      families.push_back(family.get());
    }
  }
  // Outside the registry lock: callback families call into other components.
  std::string out;
  for (const auto* family : families) {
    family->render(out);
  }
  return out;
}

} // namespace ordermesh::observability
