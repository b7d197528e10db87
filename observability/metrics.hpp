#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ordermesh::observability {

/// The Content-Type of render()'s output (Prometheus text exposition format 0.0.4).
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

/// One value per label name of a family, in the family's label-name order.
using label_values = std::vector<std::string>;

template <typename Metric>
class metric_family;

/// Upper bounds in seconds for request, journal and saga latencies: 0.5 ms .. 10 s.
const std::vector<double>& default_latency_buckets();

/// A monotonic count. Updates are lock-free; keep the reference returned by the family.
class counter {
public:
  struct options {
    bool operator==(const options&) const { return true; }
  };
  explicit counter(const options&) {}

  /// Adds `n`.
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  template <typename>
  friend class metric_family;
  static constexpr std::string_view type_name = "counter";
  /// Appends this child's sample lines; `labels` is its rendered `l="v",...` list.
  void write_samples(std::string& out, const std::string& name, const std::string& labels) const;

  std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down. Updates are lock-free.
class gauge {
public:
  struct options {
    bool operator==(const options&) const { return true; }
  };
  explicit gauge(const options&) {}

  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void inc(double d = 1) noexcept;
  void dec(double d = 1) noexcept { inc(-d); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  template <typename>
  friend class metric_family;
  static constexpr std::string_view type_name = "gauge";
  void write_samples(std::string& out, const std::string& name, const std::string& labels) const;

  std::atomic<double> value_{0};
};

/// Counts observations into fixed buckets (upper bounds, inclusive) plus an implicit +Inf bucket,
/// and keeps their sum. Updates are lock-free.
class histogram {
public:
  /// The finite upper bounds, strictly increasing (checked when the family is added).
  struct options {
    std::vector<double> bounds;
    bool operator==(const options& other) const { return bounds == other.bounds; }
  };
  /// `opts` must outlive the histogram (the family owns both).
  explicit histogram(const options& opts);

  /// Counts `v` in the first bucket whose bound is >= v; NaN counts in +Inf only and makes the
  /// sum NaN (as the Go client does).
  void observe(double v) noexcept;

  /// What a scrape reads. `cumulative[i]` counts observations <= bounds[i]; the last element is
  /// the +Inf bucket and equals `count`. `sum` is read separately, so under concurrent updates it
  /// may lag or lead `count` by the observations in flight.
  struct snapshot_t {
    std::vector<std::uint64_t> cumulative;
    std::uint64_t count = 0;
    double sum = 0;
  };
  snapshot_t snapshot() const;

private:
  template <typename>
  friend class metric_family;
  static constexpr std::string_view type_name = "histogram";
  void write_samples(std::string& out, const std::string& name, const std::string& labels) const;

  const std::vector<double>& bounds_;
  /// Per-bucket (not cumulative) counts; the last is the +Inf bucket.
  std::vector<std::atomic<std::uint64_t>> counts_;
  std::atomic<double> sum_{0};
};

namespace detail {

/// What every family has: a name, help text and label names; rendering is per kind.
class family_base {
public:
  family_base(std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~family_base() = default;
  family_base(const family_base&) = delete;
  family_base& operator=(const family_base&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  /// Appends `# HELP`, `# TYPE` and every sample.
  virtual void render(std::string& out) const = 0;

protected:
  void write_header(std::string& out, std::string_view type_name) const;
  /// `l1="v1",l2="v2"` with the values escaped.
  std::string render_labels(const label_values& values) const;
  /// Throws std::invalid_argument unless there is one value per label name.
  void check_arity(const label_values& values) const;

private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
};

} // namespace detail

/// The children of one metric name, one per label-value tuple. Created by metrics_registry.
template <typename Metric>
class metric_family final : public detail::family_base {
public:
  metric_family(std::string name, std::string help, std::vector<std::string> label_names,
                typename Metric::options opts)
      : family_base(std::move(name), std::move(help), std::move(label_names)),
        options_(std::move(opts)) {
    if (this->label_names().empty()) {
      with({}); // an unlabelled metric is exported (as 0) before its first update
    }
  }

  /// The child for `values` (one per label name, in order), created on first use. The reference
  /// stays valid as long as the registry: look it up once, keep it, update it lock-free.
  /// Takes a lock. Throws std::invalid_argument if the number of values is wrong.
  Metric& with(const label_values& values) {
    check_arity(values);
    std::lock_guard<std::mutex> lock{mutex_};
    const auto found = index_.find(values);
    if (found != index_.end()) {
      return *found->second;
    }
    Metric& child = children_.emplace_back(options_);
    labels_.push_back(render_labels(values));
    index_.emplace(values, &child);
    return child;
  }

  const typename Metric::options& options() const { return options_; }

  void render(std::string& out) const override {
    write_header(out, Metric::type_name);
    std::lock_guard<std::mutex> lock{mutex_};
    for (std::size_t i = 0; i < children_.size(); ++i) {
      children_[i].write_samples(out, name(), labels_[i]);
    }
  }

private:
  const typename Metric::options options_;
  mutable std::mutex mutex_;
  /// In creation order; a deque never moves its elements.
  std::deque<Metric> children_;
  /// The rendered label list of children_[i].
  std::vector<std::string> labels_;
  std::map<label_values, Metric*> index_;
};

using counter_family = metric_family<counter>;
using gauge_family = metric_family<gauge>;
using histogram_family = metric_family<histogram>;

/// What a callback family is exported as.
enum class callback_type { counter, gauge };

/// One sample of a callback family.
struct callback_sample {
  label_values labels;
  double value = 0;
};

/// Returns the current samples of a callback family, each label tuple at most once.
using callback_fn = std::function<std::vector<callback_sample>()>;

/// Metric families in registration order, rendered as Prometheus text. Pass it by reference; it
/// must outlive every reference it hands out. All members are thread-safe.
///
/// Programming errors throw std::invalid_argument with a message naming the metric: a name outside
/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, a label name outside `[a-zA-Z_][a-zA-Z0-9_]*` or starting with
/// `__` (and `le` on a histogram), a repeated label name, histogram bounds that are not finite and
/// strictly increasing, a name already taken by a family of another shape (including a histogram's
/// `_bucket`, `_sum` and `_count` samples), and a wrong number of label values in with().
///
/// Adding a family again with the same type, help, label names and buckets returns the existing
/// family, so two components may declare the same metric. Callback families cannot be compared:
/// their names are taken once.
class metrics_registry {
public:
  metrics_registry() = default;
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  counter_family& add_counter_family(const std::string& name, const std::string& help,
                                     std::vector<std::string> label_names);
  gauge_family& add_gauge_family(const std::string& name, const std::string& help,
                                 std::vector<std::string> label_names);
  /// `bounds`: finite, strictly increasing upper bounds; +Inf is implicit.
  histogram_family& add_histogram_family(const std::string& name, const std::string& help,
                                         std::vector<std::string> label_names,
                                         std::vector<double> bounds = default_latency_buckets());

  /// Unlabelled metrics: the family's only child.
  counter& add_counter(const std::string& name, const std::string& help);
  gauge& add_gauge(const std::string& name, const std::string& help);
  histogram& add_histogram(const std::string& name, const std::string& help,
                           std::vector<double> bounds = default_latency_buckets());

  /// A family whose samples come from `fn` at every render(): for values another component owns
  /// (mailbox depths, cache hit counts, projection lag). `fn` runs on the rendering thread with no
  /// registry lock held, so it may take its own locks and even add metrics; it must be safe to call
  /// from two scrapes at once, and what it captures must outlive the registry's last render().
  /// A sample with the wrong number of label values, or an exception from `fn`, is reported as a
  /// `#` comment line in the output instead of failing the scrape.
  void add_callback_family(const std::string& name, const std::string& help, callback_type type,
                           std::vector<std::string> label_names, callback_fn fn);

  /// Every family in registration order, children in creation order, in the text exposition
  /// format 0.0.4 (serve with prometheus_content_type).
  std::string render() const;

private:
  template <typename Metric>
  metric_family<Metric>& add_family(const std::string& name, const std::string& help,
                                    std::vector<std::string> label_names,
                                    typename Metric::options opts);
  /// Throws unless none of `names` is taken; then takes them. Called with mutex_ held.
  void reserve_names(const std::string& family, const std::vector<std::string>& names);

  mutable std::mutex mutex_;
  /// Never shrinks, so a family pointer stays valid after the lock is released.
  std::vector<std::unique_ptr<detail::family_base>> families_;
  std::map<std::string, detail::family_base*> by_name_;
  /// Family and sample names in use (a histogram takes name, name_bucket, name_sum, name_count).
  std::set<std::string> taken_names_;
};

} // namespace ordermesh::observability
