// The read queries behind GET /orders/{id}, GET /orders?customer=... and GET /inventory/{sku},
// with and without their supporting indexes, on a seeded volume: EXPLAIN (ANALYZE, BUFFERS) of
// each (the projector's own statements) and the client-side time of the projector's own calls.
// Also keyset against OFFSET for a deep page, and one statement per page against N+1.
// Run through bench/read-models, which starts a private PostgreSQL and builds this.
//
// It works in a scratch database of its own (ordermesh_bench_read_models, created on the server
// that ORDERMESH_PG_* name and dropped at the end unless OM_BENCH_KEEP=1).

#include "config/loader.hpp"
#include "persistence/pg_event_store.hpp"
#include "read_models/projections.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace ordermesh;
using namespace ordermesh::persistence;
using namespace ordermesh::read_models;
using clock_type = std::chrono::steady_clock;

const char* scratch_db = "ordermesh_bench_read_models";
constexpr int orders = 200'000;
constexpr int customers = 2'000; // cust-0000 (the big account) and cust-0001..cust-1999
constexpr int skus = 5'000;
constexpr int page_size = 20;
constexpr int deep_offset = 19'000; // a page near the end of the big account's 20 000 orders
const std::string big_account = "cust-0000";

std::string customer_name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "cust-%04d", i);
  return buf;
}

std::string sku_name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "sku-%05d", i);
  return buf;
}

// Every 10th order belongs to the big account; the others spread evenly over 1 999 customers
// (about 90 each), each customer's orders spread over the whole period. 1-3 lines per order.
const char* seed_sql = R"sql(
INSERT INTO read_orders (order_id, customer_id, status, reason, amount_cents, placed_at,
                         updated_at, version)
SELECT md5('order-' || i)::uuid::text,
       'cust-' || lpad((CASE WHEN i % 10 = 0 THEN 0 ELSE 1 + (i * 7919) % 1999 END)::text, 4, '0'),
       CASE i % 20 WHEN 0 THEN 'rejected' WHEN 1 THEN 'cancelled' WHEN 2 THEN 'placed'
                   ELSE 'confirmed' END,
       CASE i % 20 WHEN 0 THEN 'out of stock' WHEN 1 THEN 'payment declined' ELSE '' END,
       500 + (i * 37) % 20000,
       timestamptz '2026-05-01 00:00:00+00' + i * interval '1 minute',
       timestamptz '2026-05-01 00:00:02+00' + i * interval '1 minute',
       6
  FROM generate_series(1, 200000) i;

INSERT INTO read_order_lines (order_id, line_no, sku, qty, reservation)
SELECT md5('order-' || i)::uuid::text, n,
       'sku-' || lpad(((i * 31 + n * 977) % 5000)::text, 5, '0'), 1 + (i + n) % 3, 'reserved'
  FROM generate_series(1, 200000) i, generate_series(1, 1 + i % 3) n;

INSERT INTO read_inventory (sku, on_hand, reserved, available, version, updated_at)
SELECT 'sku-' || lpad(s::text, 5, '0'), 1000, (s * 13) % 40, 1000 - (s * 13) % 40, 1 + s % 50,
       timestamptz '2026-09-01 00:00:00+00' + s * interval '1 second'
  FROM generate_series(0, 4999) s;
)sql";

const char* read_model_tables = "'read_orders'::regclass, 'read_order_lines'::regclass, "
                                "'read_inventory'::regclass";

struct figures {
  double median_ms = 0;
  double p95_ms = 0;
  int calls = 0;
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

/// Times `call(i)` for i in [0, calls) after a few warm-up calls.
figures time_calls(int calls, const std::function<void(int)>& call) {
  for (int i = 0; i < 3; ++i) {
    call(i);
  }
  std::vector<double> ms;
  for (int i = 0; i < calls; ++i) {
    auto t0 = clock_type::now();
    call(i);
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  return {percentile(ms, 0.5), percentile(ms, 0.95), calls};
}

/// The value, or the end of the bench with the error.
template <class T>
T required(store_result<T> r, const char* what) {
  if (!r) {
    std::cerr << "bench: " << what << ": " << r.error().detail << "\n";
    std::exit(1);
  }
  return std::move(*r);
}

class bench {
public:
  explicit bench(config::pg_config pg)
      : pg_(std::move(pg)), sql_{pg_event_store::connection_string(pg_)}, reads_{pg_, "bench"} {
    pqxx::nontransaction tx{sql_};
    // As the projector's unnamed statements (PQexecParams): planned for the actual values.
    tx.exec0("SET plan_cache_mode = force_custom_plan");
    for (int i = 0; i < 100; ++i) {
      typical_.push_back(customer_name(1 + (i * 19) % (customers - 1)));
      order_ids_.push_back(
          tx.exec1("SELECT md5('order-" + std::to_string(1 + i * 1999) + "')::uuid::text")[0]
              .as<std::string>());
      skus_.push_back(sku_name((i * 47) % skus));
    }
    for (const auto& c : typical_) {
      second_pages_.push_back(
          *required(reads_.list_orders(c, std::nullopt, page_size), "page 1").next);
    }
    auto deep = tx.exec_params1(
        "SELECT (extract(epoch FROM placed_at) * 1000000)::bigint, order_id FROM read_orders "
        "WHERE customer_id = $1 ORDER BY placed_at DESC, order_id DESC OFFSET $2 LIMIT 1",
        big_account, deep_offset - 1);
    deep_cursor_ = order_cursor{deep[0].as<int64_t>(), deep[1].as<std::string>()};
  }

  /// Prints EXPLAIN (ANALYZE, BUFFERS) of `sql` with `args` (SQL literals).
  void explain(const std::string& title, const std::string& sql, const std::string& args) {
    pqxx::work tx{sql_};
    tx.exec0("PREPARE q AS " + sql);
    std::printf("\n-- %s\nEXPLAIN (ANALYZE, BUFFERS) EXECUTE q(%s)\n", title.c_str(), args.c_str());
    for (const auto& row : tx.exec("EXPLAIN (ANALYZE, BUFFERS) EXECUTE q(" + args + ")")) {
      std::printf("  %s\n", row[0].c_str());
    }
    tx.exec0("DEALLOCATE q");
  }

  void report(const std::string& what, const figures& f) {
    std::printf("   => %s: median %.3f ms, p95 %.3f ms over %d calls\n", what.c_str(), f.median_ms,
                f.p95_ms, f.calls);
  }

  std::string quote(const std::string& s) { return sql_.quote(s); }

  figures get_order(int calls) {
    explain("get_order: one order and its lines (projector::get_order)", projector::get_order_sql(),
            quote(order_ids_[0]));
    auto f = time_calls(calls, [&](int i) {
      required(reads_.get_order(order_ids_[i % order_ids_.size()]), "get_order");
    });
    report("projector::get_order", f);
    return f;
  }

  figures first_page(int calls) {
    explain("list_orders, first page of a typical customer (~90 orders), " +
                std::to_string(page_size) + " per page (limit+1 fetched)",
            projector::list_orders_sql(false), quote(typical_[0]) + ", " + limit());
    auto f = time_calls(calls, [&](int i) {
      required(reads_.list_orders(typical_[i % typical_.size()], std::nullopt, page_size),
               "list_orders");
    });
    report("projector::list_orders, first page", f);
    return f;
  }

  figures next_page(int calls) {
    const auto& c = second_pages_[0];
    explain("list_orders, second page of a typical customer (keyset cursor)",
            projector::list_orders_sql(true),
            quote(typical_[0]) + ", " + std::to_string(c.placed_at_us) + ", " + quote(c.order_id) +
                ", " + limit());
    auto f = time_calls(calls, [&](int i) {
      auto k = static_cast<size_t>(i) % typical_.size();
      required(reads_.list_orders(typical_[k], second_pages_[k], page_size), "list_orders");
    });
    report("projector::list_orders, second page", f);
    return f;
  }

  figures big_first_page(int calls) {
    explain("list_orders, first page of the big account (20 000 orders)",
            projector::list_orders_sql(false), quote(big_account) + ", " + limit());
    auto f = time_calls(calls, [&](int) {
      required(reads_.list_orders(big_account, std::nullopt, page_size), "list_orders");
    });
    report("projector::list_orders, big account, first page", f);
    return f;
  }

  figures big_deep_page(int calls) {
    explain("list_orders, big account, page at order " + std::to_string(deep_offset) +
                " (keyset cursor)",
            projector::list_orders_sql(true),
            quote(big_account) + ", " + std::to_string(deep_cursor_.placed_at_us) + ", " +
                quote(deep_cursor_.order_id) + ", " + limit());
    auto f = time_calls(calls, [&](int) {
      required(reads_.list_orders(big_account, deep_cursor_, page_size), "list_orders");
    });
    report("projector::list_orders, big account, deep page by cursor", f);
    return f;
  }

  /// The same page as big_deep_page, found with OFFSET instead of a cursor.
  figures big_deep_page_offset(int calls) {
    auto sql = projector::list_orders_sql(false);
    auto at = sql.find("LIMIT $2)");
    if (at == std::string::npos) {
      std::cerr << "bench: the listing statement changed shape; update the OFFSET variant\n";
      std::exit(1);
    }
    sql.replace(at, 9, "OFFSET $3 LIMIT $2)");
    explain("the same deep page with OFFSET " + std::to_string(deep_offset) +
                " instead of a cursor (not used by ordermesh)",
            sql, quote(big_account) + ", " + limit() + ", " + std::to_string(deep_offset));
    pqxx::connection c{pg_event_store::connection_string(pg_)};
    auto f = time_calls(calls, [&](int) {
      pqxx::nontransaction tx{c};
      tx.exec_params(sql, big_account, page_size + 1, deep_offset);
    });
    report("OFFSET " + std::to_string(deep_offset) + ", same statement otherwise", f);
    return f;
  }

  /// A first page read as one query for the orders and one per order for its lines.
  figures first_page_n_plus_1(int calls) {
    std::printf("\n-- the first page of a typical customer read the N+1 way: the orders, then "
                "each order's lines (not used by ordermesh)\n");
    pqxx::connection c{pg_event_store::connection_string(pg_)};
    auto f = time_calls(calls, [&](int i) {
      pqxx::nontransaction tx{c}; // as the projector: no BEGIN/COMMIT round trips
      auto page = tx.exec_params(
          "SELECT order_id, customer_id, status, reason, amount_cents, placed_at, updated_at, "
          "version FROM read_orders WHERE customer_id = $1 ORDER BY placed_at DESC, order_id "
          "DESC LIMIT $2",
          typical_[static_cast<size_t>(i) % typical_.size()], page_size + 1);
      for (const auto& row : page) {
        tx.exec_params("SELECT line_no, sku, qty FROM read_order_lines WHERE order_id = $1 "
                       "ORDER BY line_no",
                       row[0].as<std::string>());
      }
    });
    report("N+1: the page, then one lines query per order (" + std::to_string(page_size + 1) +
               " + 1 statements)",
           f);
    return f;
  }

  figures get_inventory(int calls) {
    explain("get_inventory: one SKU (projector::get_inventory)", projector::get_inventory_sql(),
            quote(skus_[0]));
    auto f = time_calls(calls, [&](int i) {
      required(reads_.get_inventory(skus_[i % skus_.size()]), "get_inventory");
    });
    report("projector::get_inventory", f);
    return f;
  }

private:
  std::string limit() const { return std::to_string(page_size + 1); }

  config::pg_config pg_;
  pqxx::connection sql_;
  projector reads_;
  std::vector<std::string> typical_;
  std::vector<order_cursor> second_pages_;
  std::vector<std::string> order_ids_;
  std::vector<std::string> skus_;
  order_cursor deep_cursor_;
};

/// The read models' primary keys, foreign keys and secondary indexes, to drop and put back.
struct index_set {
  struct constraint {
    std::string table, name, definition;
  };
  std::vector<constraint> primary_keys, foreign_keys;
  std::vector<std::string> index_names, index_definitions;

  static index_set read(pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    index_set s;
    for (const auto& row :
         tx.exec(std::string{"SELECT conrelid::regclass::text, conname, "
                             "pg_get_constraintdef(oid), contype FROM pg_constraint WHERE "
                             "contype IN ('p', 'f') AND conrelid IN ("} +
                 read_model_tables + ") ORDER BY conname")) {
      constraint k{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()};
      (row[3].as<std::string>() == "p" ? s.primary_keys : s.foreign_keys).push_back(k);
    }
    for (const auto& row :
         tx.exec(std::string{"SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM "
                             "pg_index i WHERE indrelid IN ("} +
                 read_model_tables +
                 ") AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
                 "ORDER BY 1")) {
      s.index_names.push_back(row[0].as<std::string>());
      s.index_definitions.push_back(row[1].as<std::string>());
    }
    return s;
  }

  void drop(pqxx::connection& c) const {
    pqxx::work tx{c};
    for (const auto& k : foreign_keys) {
      tx.exec0("ALTER TABLE " + k.table + " DROP CONSTRAINT " + k.name);
    }
    for (const auto& k : primary_keys) {
      tx.exec0("ALTER TABLE " + k.table + " DROP CONSTRAINT " + k.name);
    }
    for (const auto& name : index_names) {
      tx.exec0("DROP INDEX " + name);
    }
    tx.commit();
  }

  void restore_keys(pqxx::connection& c) const {
    pqxx::work tx{c};
    for (const auto& k : primary_keys) {
      tx.exec0("ALTER TABLE " + k.table + " ADD CONSTRAINT " + k.name + " " + k.definition);
    }
    for (const auto& k : foreign_keys) {
      tx.exec0("ALTER TABLE " + k.table + " ADD CONSTRAINT " + k.name + " " + k.definition);
    }
    tx.commit();
  }

  void restore_indexes(pqxx::connection& c) const {
    pqxx::work tx{c};
    for (const auto& d : index_definitions) {
      tx.exec0(d);
    }
    tx.commit();
  }

  void print() const {
    for (const auto& k : primary_keys) {
      std::printf("  %s: %s %s\n", k.table.c_str(), k.name.c_str(), k.definition.c_str());
    }
    for (const auto& k : foreign_keys) {
      std::printf("  %s: %s %s\n", k.table.c_str(), k.name.c_str(), k.definition.c_str());
    }
    for (const auto& d : index_definitions) {
      std::printf("  %s\n", d.c_str());
    }
  }
};

void analyze(pqxx::connection& c) {
  pqxx::nontransaction tx{c};
  tx.exec0("VACUUM (ANALYZE) read_orders, read_order_lines, read_inventory");
}

void phase(const char* title) {
  std::printf("\n==== %s ====\n", title);
}

std::string admin_connection(config::pg_config pg) {
  pg.dbname = "postgres";
  return pg_event_store::connection_string(pg);
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto loaded = config::load({args, config::process_env(), {}, {}});
  if (auto* err = std::get_if<config::config_error>(&loaded)) {
    std::cerr << err->line() << "\n";
    return 2;
  }
  auto pg = std::get<config::loaded_config>(loaded).values.pg;
  const char* calls_env = std::getenv("OM_BENCH_CALLS");
  const int calls = std::max(10, calls_env ? std::atoi(calls_env) : 200);
  const int slow_calls = std::max(10, calls / 4); // for the plans that scan whole tables
  const bool keep = std::getenv("OM_BENCH_KEEP") != nullptr;

  try {
    pg.dbname = scratch_db;
    {
      pqxx::connection admin{admin_connection(pg)};
      pqxx::nontransaction tx{admin};
      tx.exec0(std::string{"DROP DATABASE IF EXISTS "} + scratch_db + " WITH (FORCE)");
      tx.exec0(std::string{"CREATE DATABASE "} + scratch_db);
    }
    {
      pg_event_store store{pg, config::journal_config{}};
      required(store.migrate(), "migrate");
    }
    pqxx::connection c{pg_event_store::connection_string(pg)};
    auto seeded_at = clock_type::now();
    {
      pqxx::work tx{c};
      tx.exec(seed_sql);
      tx.commit();
    }
    analyze(c);
    {
      pqxx::read_transaction tx{c};
      auto r = tx.exec1(
          "SELECT (SELECT count(*) FROM read_orders), (SELECT count(*) FROM read_order_lines), "
          "(SELECT count(*) FROM read_inventory), (SELECT count(DISTINCT customer_id) FROM "
          "read_orders), (SELECT count(*) FROM read_orders WHERE customer_id = 'cust-0000'), "
          "pg_size_pretty(pg_total_relation_size('read_orders') + "
          "pg_total_relation_size('read_order_lines') + pg_total_relation_size('read_inventory'))");
      std::printf("seeded in %.1f s: %s orders, %s lines, %s skus, %s customers (the big account "
                  "%s has %s orders), %s with indexes\n",
                  std::chrono::duration<double>(clock_type::now() - seeded_at).count(),
                  r[0].c_str(), r[1].c_str(), r[2].c_str(), r[3].c_str(), big_account.c_str(),
                  r[4].c_str(), r[5].c_str());
    }
    std::printf("page size %d; timings are the projector's own calls over one connection on "
                "loopback (client side: round trip, planning, execution, decoding)\n",
                page_size);
    auto indexes = index_set::read(c);
    std::printf("supporting keys and indexes (migrations 0002, 0003):\n");
    indexes.print();

    bench b{pg};

    phase("BEFORE: no primary keys, no listing index");
    indexes.drop(c);
    analyze(c);
    auto order_before = b.get_order(slow_calls);
    auto first_before = b.first_page(slow_calls);
    auto next_before = b.next_page(slow_calls);
    auto big_before = b.big_first_page(slow_calls);
    auto deep_before = b.big_deep_page(slow_calls);
    auto inventory_before = b.get_inventory(slow_calls);

    phase("HALFWAY: primary keys, but only an index on read_orders (customer_id)");
    indexes.restore_keys(c);
    {
      pqxx::work tx{c};
      tx.exec0("CREATE INDEX bench_customer_only_idx ON read_orders (customer_id)");
      tx.commit();
    }
    analyze(c);
    auto first_halfway = b.first_page(calls);
    auto next_halfway = b.next_page(calls);
    auto big_halfway = b.big_first_page(calls);
    auto deep_halfway = b.big_deep_page(calls);

    phase("AFTER: the migrations' keys and indexes");
    {
      pqxx::work tx{c};
      tx.exec0("DROP INDEX bench_customer_only_idx");
      tx.commit();
    }
    indexes.restore_indexes(c);
    analyze(c);
    auto order_after = b.get_order(calls);
    auto first_after = b.first_page(calls);
    auto next_after = b.next_page(calls);
    auto big_after = b.big_first_page(calls);
    auto deep_after = b.big_deep_page(calls);
    auto offset_after = b.big_deep_page_offset(calls);
    auto n_plus_1 = b.first_page_n_plus_1(calls);
    auto inventory_after = b.get_inventory(calls);

    std::printf("\n==== summary (median ms of the projector's calls) ====\n");
    std::printf("%-44s %10s %10s %10s\n", "query", "before", "halfway", "after");
    std::printf("%-44s %10.3f %10s %10.3f\n", "get_order", order_before.median_ms, "-",
                order_after.median_ms);
    std::printf("%-44s %10.3f %10.3f %10.3f\n", "list_orders first page (typical customer)",
                first_before.median_ms, first_halfway.median_ms, first_after.median_ms);
    std::printf("%-44s %10.3f %10.3f %10.3f\n", "list_orders second page (cursor)",
                next_before.median_ms, next_halfway.median_ms, next_after.median_ms);
    std::printf("%-44s %10.3f %10.3f %10.3f\n", "list_orders first page (big account)",
                big_before.median_ms, big_halfway.median_ms, big_after.median_ms);
    auto deep_label = "list_orders page " + std::to_string(deep_offset / page_size + 1) +
                      " (big account, cursor)";
    std::printf("%-44s %10.3f %10.3f %10.3f\n", deep_label.c_str(), deep_before.median_ms,
                deep_halfway.median_ms, deep_after.median_ms);
    std::printf("%-44s %10.3f %10s %10.3f\n", "get_inventory", inventory_before.median_ms, "-",
                inventory_after.median_ms);
    std::printf("deep page of the big account: cursor %.3f ms, OFFSET %d %.3f ms\n",
                deep_after.median_ms, deep_offset, offset_after.median_ms);
    std::printf("first page with lines: one statement %.3f ms, N+1 statements %.3f ms\n",
                first_after.median_ms, n_plus_1.median_ms);

    if (!keep) {
      pqxx::connection admin{admin_connection(pg)};
      pqxx::nontransaction tx{admin};
      tx.exec0(std::string{"DROP DATABASE IF EXISTS "} + scratch_db + " WITH (FORCE)");
    }
    std::printf("list_orders_ms_before=%.3f after=%.3f get_order_ms_before=%.3f after=%.3f "
                "get_inventory_ms_before=%.3f after=%.3f\n",
                first_before.median_ms, first_after.median_ms, order_before.median_ms,
                order_after.median_ms, inventory_before.median_ms, inventory_after.median_ms);
  } catch (const std::exception& e) {
    std::cerr << "bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
