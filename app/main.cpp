// ordermesh: one binary, one subcommand per process role (see `ordermesh help`).

#include "app/commands.hpp"
#include "config/loader.hpp"
#include "observability/log.hpp"
#include "psp/main_psp.hpp"

#include <iostream>
#include <string>
#include <vector>

namespace {

struct command {
  const char* name;
  const char* summary;
  int (*run)(const ordermesh::config::loaded_config&);
  /// False for processes that never touch PostgreSQL: pg.dbname is then not required.
  bool needs_database;
};

int run_psp(const ordermesh::config::loaded_config& cfg) {
  return ordermesh::psp::run_psp(cfg.values);
}

const std::vector<command>& commands() {
  static const std::vector<command> all{
      {"event-store-demo", "append, conflict, read back and tail events; --once to stop after it",
       ordermesh::app::run_event_store_demo, true},
      {"standalone", "node + HTTP gateway in one process (gateway.host:gateway.port) until Ctrl-C",
       ordermesh::app::run_standalone, true},
      {"migrate", "apply the event-store migrations to pg.dbname and exit",
       ordermesh::app::run_migrate, true},
      {"psp", "the payment service provider stand-in (HTTP on psp.host:psp.port)", run_psp, false},
  };
  return all;
}

void print_usage(std::ostream& out) {
  out << "usage: ordermesh <command> [--config <file>] [--<key>=<value>...] [--print-config]\n\n"
         "commands:\n";
  for (const auto& c : commands()) {
    out << "  " << c.name << std::string(20 - std::string{c.name}.size(), ' ') << c.summary << "\n";
  }
  out << "\nconfiguration keys (file < ORDERMESH_* environment < command line):\n";
  for (const auto& k : ordermesh::config::known_keys()) {
    out << "  --" << k.key << std::string(k.key.size() < 24 ? 24 - k.key.size() : 1, ' ')
        << k.description << (k.required ? " (required)" : "") << "\n";
  }
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    print_usage(std::cout);
    return args.empty() ? 2 : 0;
  }
  const command* chosen = nullptr;
  for (const auto& c : commands()) {
    if (args[0] == c.name) {
      chosen = &c;
    }
  }
  if (chosen == nullptr) {
    std::cerr << "ordermesh: unknown command '" << args[0] << "' (try: ordermesh help)\n";
    return 2;
  }
  args.erase(args.begin());
  auto loaded = ordermesh::config::load({args,
                                         ordermesh::config::process_env(),
                                         {"print-config", "once"},
                                         {},
                                         chosen->needs_database});
  if (auto* err = std::get_if<ordermesh::config::config_error>(&loaded)) {
    std::cerr << err->line() << "\n";
    return 2;
  }
  auto& cfg = std::get<ordermesh::config::loaded_config>(loaded);
  if (!cfg.positional.empty()) {
    std::cerr << "ordermesh " << chosen->name << ": unexpected argument '" << cfg.positional[0]
              << "'\n";
    return 2;
  }
  if (cfg.flags.count("print-config") > 0) {
    std::cout << ordermesh::config::describe(cfg);
    return 0;
  }
  ordermesh::observability::init_logging(cfg.values.log.level, chosen->name);
  return chosen->run(cfg);
}
