#define BOOST_TEST_MODULE observability_log
#include <boost/test/unit_test.hpp>

#include "observability/log.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <regex>
#include <sstream>

using namespace ordermesh::observability;
using json = nlohmann::json;

namespace {

/// A logger named `component` writing through json_formatter into a string stream.
struct captured_logger {
  explicit captured_logger(const std::string& component = "journal",
                           spdlog::level::level_enum level = spdlog::level::trace)
      : logger(component, std::make_shared<spdlog::sinks::ostream_sink_st>(out)) {
    logger.set_formatter(std::make_unique<json_formatter>());
    logger.set_level(level);
  }

  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::istringstream in{out.str()};
    for (std::string line; std::getline(in, line);) {
      result.push_back(line);
    }
    return result;
  }

  /// Every line parsed; fails the test if one is not a JSON object.
  std::vector<json> records() const {
    std::vector<json> result;
    for (const auto& line : lines()) {
      const auto j = json::parse(line, nullptr, false);
      BOOST_TEST_REQUIRE(j.is_object(), "not a JSON object: " << line);
      result.push_back(j);
    }
    return result;
  }

  std::ostringstream out;
  spdlog::logger logger;
};

} // namespace

BOOST_AUTO_TEST_CASE(each_record_is_one_json_object_on_one_line_with_ts_level_component_msg) {
  captured_logger log;
  log.logger.info("journal started");
  log.logger.warn("lag {} ms", 42);
  const auto records = log.records();
  BOOST_TEST_REQUIRE(records.size() == 2u);
  BOOST_TEST(records[0]["level"] == "info");
  BOOST_TEST(records[0]["component"] == "journal");
  BOOST_TEST(records[0]["msg"] == "journal started");
  BOOST_TEST(records[1]["level"] == "warn");
  BOOST_TEST(records[1]["msg"] == "lag 42 ms");
  const std::regex iso_utc{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"};
  BOOST_TEST(std::regex_match(records[0]["ts"].get<std::string>(), iso_utc));
  BOOST_TEST(log.lines()[0].rfind("{\"ts\":", 0) == 0);
}

BOOST_AUTO_TEST_CASE(timestamp_is_utc_with_milliseconds) {
  json_formatter formatter;
  spdlog::details::log_msg msg{"c", spdlog::level::info, "m"};
  // 2026-11-25T10:00:00.123Z
  msg.time = spdlog::log_clock::time_point{std::chrono::milliseconds{1'795'600'800'123}};
  spdlog::memory_buf_t buf;
  formatter.format(msg, buf);
  const auto j = json::parse(std::string(buf.data(), buf.size()));
  BOOST_TEST(j["ts"] == "2026-11-25T10:00:00.123Z");
}

BOOST_AUTO_TEST_CASE(tricky_messages_are_escaped_so_the_line_still_parses) {
  captured_logger log;
  constexpr char with_nul[] = "nul \0 bell \a escape \x1b";
  const std::vector<std::string> tricky = {
      "quote \" and backslash \\",
      "two\nlines\r\nand a tab\t",
      std::string{with_nul, sizeof with_nul - 1},
      "unicode: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6",
      "{\"level\":\"fake\"}",
  };
  for (const auto& m : tricky) {
    log.logger.info(m);
  }
  const auto records = log.records();
  BOOST_TEST_REQUIRE(records.size() == tricky.size());
  for (std::size_t i = 0; i < tricky.size(); ++i) {
    BOOST_TEST(records[i]["msg"].get<std::string>() == tricky[i]);
    BOOST_TEST(records[i]["level"] == "info");
  }
}

BOOST_AUTO_TEST_CASE(invalid_utf8_becomes_the_replacement_character) {
  captured_logger log;
  log.logger.info(std::string{"bad \xff byte, truncated \xe2\x82, surrogate \xed\xa0\x80"});
  const auto records = log.records();
  BOOST_TEST_REQUIRE(records.size() == 1u);
  const auto msg = records[0]["msg"].get<std::string>();
  BOOST_TEST(msg.rfind("bad \xef\xbf\xbd byte", 0) == 0);
}

BOOST_AUTO_TEST_CASE(component_name_is_escaped_too) {
  captured_logger log{"odd \"name\""};
  log.logger.info("x");
  BOOST_TEST(log.records().at(0)["component"] == "odd \"name\"");
}

BOOST_AUTO_TEST_CASE(event_fields_are_merged_into_the_record) {
  captured_logger log;
  log_event(log.logger, spdlog::level::info, "batch committed",
            {{"stream", "order-7"}, {"appends", 12}, {"latency_ms", 3.5}, {"tags", {"a", "b"}}});
  const auto records = log.records();
  BOOST_TEST_REQUIRE(records.size() == 1u);
  const auto& r = records[0];
  BOOST_TEST(r["msg"] == "batch committed");
  BOOST_TEST(r["stream"] == "order-7");
  BOOST_TEST(r["appends"] == 12);
  BOOST_TEST(r["latency_ms"] == 3.5);
  BOOST_TEST(r["tags"] == json::array({"a", "b"}));
  BOOST_TEST(r.size() == 8u);
}

BOOST_AUTO_TEST_CASE(fields_cannot_overwrite_ts_level_component_or_msg) {
  captured_logger log;
  log_event(log.logger, spdlog::level::err, "real",
            {{"ts", "fake"}, {"level", "fake"}, {"component", "fake"}, {"msg", "fake"}});
  const auto lines = log.lines();
  BOOST_TEST_REQUIRE(lines.size() == 1u);
  // Each key once: a duplicate key would let a parser pick the field over the real value.
  for (const char* key : {"\"ts\":", "\"level\":", "\"component\":", "\"msg\":"}) {
    const auto first = lines[0].find(key);
    BOOST_TEST((first != std::string::npos && lines[0].find(key, first + 1) == std::string::npos),
               key);
  }
  const auto r = json::parse(lines[0]);
  BOOST_TEST(r["level"] == "error");
  BOOST_TEST(r["msg"] == "real");
  BOOST_TEST(r["component"] == "journal");
  BOOST_TEST(r["ts"] != "fake");
  BOOST_TEST(r["field.msg"] == "fake");
  BOOST_TEST(r["field.level"] == "fake");
}

BOOST_AUTO_TEST_CASE(fields_are_only_added_to_the_event_they_were_given_with) {
  captured_logger log;
  log_event(log.logger, spdlog::level::info, "with", {{"k", 1}});
  log.logger.info("without");
  log_event(log.logger, spdlog::level::info, "scalar", json(7));
  const auto records = log.records();
  BOOST_TEST_REQUIRE(records.size() == 3u);
  BOOST_TEST(records[0]["k"] == 1);
  BOOST_TEST(!records[1].contains("k"));
  BOOST_TEST(records[2]["fields"] == 7);
}

BOOST_AUTO_TEST_CASE(records_below_the_logger_level_are_not_written) {
  captured_logger log{"journal", spdlog::level::warn};
  log.logger.debug("hidden");
  log.logger.info("hidden");
  log_event(log.logger, spdlog::level::info, "hidden", {{"k", 1}});
  log_event(log.logger, spdlog::level::warn, "shown", {{"k", 2}});
  log.logger.error("also shown");
  const auto records = log.records();
  BOOST_TEST_REQUIRE(records.size() == 2u);
  BOOST_TEST(records[0]["msg"] == "shown");
  BOOST_TEST(records[1]["level"] == "error");
}

BOOST_AUTO_TEST_CASE(parse_level_accepts_exactly_the_config_level_names) {
  BOOST_TEST((parse_level("trace") == spdlog::level::trace));
  BOOST_TEST((parse_level("warn") == spdlog::level::warn));
  BOOST_TEST((parse_level("critical") == spdlog::level::critical));
  BOOST_TEST((parse_level("off") == spdlog::level::off));
  BOOST_TEST(!parse_level("warning").has_value());
  BOOST_TEST(!parse_level("INFO").has_value());
  BOOST_TEST(!parse_level("").has_value());
  for (const char* name : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    BOOST_TEST(level_name(*parse_level(name)) == name);
  }
}

BOOST_AUTO_TEST_CASE(init_logging_installs_a_json_default_logger_at_the_level) {
  init_logging("warn", "app");
  const auto logger = spdlog::default_logger();
  BOOST_TEST(logger->name() == "app");
  BOOST_TEST(logger->level() == spdlog::level::warn);
  const auto journal = component_logger("journal");
  BOOST_TEST(journal->name() == "journal");
  BOOST_TEST(journal->level() == spdlog::level::warn);
  BOOST_TEST(journal->sinks() == logger->sinks());
  init_logging("info", "app");
  BOOST_TEST(spdlog::default_logger()->level() == spdlog::level::info);
}
