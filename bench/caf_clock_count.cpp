// caf_clock_count: an LD_PRELOAD library that counts the events pushed to CAF 0.17.6's clock
// thread (thread_safe_actor_clock: request timeouts, delayed sends, ordinary/multi timeouts, the
// per-actor cancel at termination), bucketed by their delay in 0.25 s steps, and appends the
// cumulative counts once a second to /tmp/clockcount/<pid>.log:
//   <unix s> | <request counts per bucket> | <delayed_send> | <ordinary> | <cancel_timeouts> |
//   <multi>
// Not built by CMake (a measurement aid, not part of the product):
//   mkdir -p /tmp/clockcount
//   g++ -std=c++17 -O2 -shared -fPIC bench/caf_clock_count.cpp -o /tmp/clockcount/shim.so -ldl
//   -lpthread LD_PRELOAD=/tmp/clockcount/shim.so build/app/ordermesh standalone ...
// The delay of an event tells its source apart (e.g. 60 s: the journal's commit timeout, 1 s: an
// entity's tick). Interposes the clock's virtual functions by their mangled names: CAF 0.17.6 only.
// Under bench/orders: export LD_PRELOAD for the whole run (processes without CAF never call it);
// per order in the load run, divide a 15 s stretch's growth by its orders, which the 31 s
// delayed sends count (each order activates three new entities, each arming one passivation tick
// idle_timeout + tick_interval ahead). An entity's end (passivation, 30 s later) adds one cancel.
#include <atomic>
#include <caf/all.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <chrono>
#include <cstdio>
#include <dlfcn.h>
#include <thread>
#include <unistd.h>

using tp = caf::actor_clock::time_point;
using clk = caf::detail::thread_safe_actor_clock;
namespace {
// kinds: 0 request, 1 message(delayed_send), 2 ordinary, 3 cancel_timeouts, 4 multi
constexpr int buckets = 260; // delay buckets of 0.25 s up to 65 s
std::atomic<uint64_t> counts[5][buckets];
int bucket(tp t) {
  double s = std::chrono::duration<double>(t - std::chrono::steady_clock::now()).count();
  int i = static_cast<int>(s * 4 + 0.5);
  return i < 0 ? 0 : (i >= buckets ? buckets - 1 : i);
}
std::once_flag started;
void start() {
  std::call_once(started, [] {
    std::thread([] {
      char path[128];
      snprintf(path, sizeof path, "/tmp/clockcount/%d.log", getpid());
      for (;;) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        FILE* f = fopen(path, "a");
        if (!f)
          continue;
        fprintf(f, "%ld", (long)time(nullptr));
        for (auto& k : counts) {
          fprintf(f, " |");
          for (auto& b : k)
            fprintf(f, " %lu", (unsigned long)b.load());
        }
        fprintf(f, "\n");
        fclose(f);
      }
    }).detach();
  });
}
template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}
} // namespace
#define RQ                                                                                         \
  "_ZN3caf6detail23thread_safe_actor_clock19set_request_timeoutENSt6chrono10time_pointINS2_3_"     \
  "V212steady_clockENS2_8durationIlSt5ratioILl1ELl1000000000EEEEEEPNS_14abstract_actorENS_"        \
  "10message_idE"
#define SM                                                                                         \
  "_ZN3caf6detail23thread_safe_actor_clock16schedule_messageENSt6chrono10time_pointINS2_3_"        \
  "V212steady_clockENS2_8durationIlSt5ratioILl1ELl1000000000EEEEEENS_13intrusive_ptrINS_19actor_"  \
  "control_blockEEESt10unique_ptrINS_15mailbox_elementENS0_8disposerEE"
#define OT                                                                                         \
  "_ZN3caf6detail23thread_safe_actor_clock20set_ordinary_timeoutENSt6chrono10time_pointINS2_3_"    \
  "V212steady_clockENS2_8durationIlSt5ratioILl1ELl1000000000EEEEEEPNS_14abstract_actorENS_10atom_" \
  "valueEm"
#define CT "_ZN3caf6detail23thread_safe_actor_clock15cancel_timeoutsEPNS_14abstract_actorE"
#define MT                                                                                         \
  "_ZN3caf6detail23thread_safe_actor_clock17set_multi_timeoutENSt6chrono10time_pointINS2_3_"       \
  "V212steady_clockENS2_8durationIlSt5ratioILl1ELl1000000000EEEEEEPNS_14abstract_actorENS_10atom_" \
  "valueEm"
extern "C++" {
void h_rq(clk* c, tp t, caf::abstract_actor* a, caf::message_id id) __asm__(RQ);
void h_rq(clk* c, tp t, caf::abstract_actor* a, caf::message_id id) {
  start();
  counts[0][bucket(t)]++;
  static auto f = next<void (*)(clk*, tp, caf::abstract_actor*, caf::message_id)>(RQ);
  f(c, t, a, id);
}
void h_sm(clk* c, tp t, caf::strong_actor_ptr r, caf::mailbox_element_ptr m) __asm__(SM);
void h_sm(clk* c, tp t, caf::strong_actor_ptr r, caf::mailbox_element_ptr m) {
  start();
  counts[1][bucket(t)]++;
  static auto f = next<void (*)(clk*, tp, caf::strong_actor_ptr, caf::mailbox_element_ptr)>(SM);
  f(c, t, std::move(r), std::move(m));
}
void h_ot(clk* c, tp t, caf::abstract_actor* a, caf::atom_value v, uint64_t id) __asm__(OT);
void h_ot(clk* c, tp t, caf::abstract_actor* a, caf::atom_value v, uint64_t id) {
  start();
  counts[2][bucket(t)]++;
  static auto f = next<void (*)(clk*, tp, caf::abstract_actor*, caf::atom_value, uint64_t)>(OT);
  f(c, t, a, v, id);
}
void h_ct(clk* c, caf::abstract_actor* a) __asm__(CT);
void h_ct(clk* c, caf::abstract_actor* a) {
  start();
  counts[3][0]++;
  static auto f = next<void (*)(clk*, caf::abstract_actor*)>(CT);
  f(c, a);
}
void h_mt(clk* c, tp t, caf::abstract_actor* a, caf::atom_value v, uint64_t id) __asm__(MT);
void h_mt(clk* c, tp t, caf::abstract_actor* a, caf::atom_value v, uint64_t id) {
  start();
  counts[4][bucket(t)]++;
  static auto f = next<void (*)(clk*, tp, caf::abstract_actor*, caf::atom_value, uint64_t)>(MT);
  f(c, t, a, v, id);
}
}
