-- bench/http: POST /orders, each request a new order with its own Idempotency-Key
-- ("bench-<run>-<thread>-<counter>"). Arguments after "--": <sku> <run id>.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "http_report.lua")

-- Set by setup() in each thread's environment (so a global, not a local).
thread_no = 0
local threads_set_up = 0

function setup(thread)
  thread:set("thread_no", threads_set_up)
  threads_set_up = threads_set_up + 1
end

local counter = 0
local key_prefix
local body
local headers

function init(args)
  local sku, run = args[1], args[2]
  assert(sku and run, "http_post_orders.lua needs: -- <sku> <run id>")
  key_prefix = "bench-" .. run .. "-" .. thread_no .. "-"
  body = '{"customer_id":"bench-1","lines":[{"sku":"' .. sku .. '","qty":1}],' ..
         '"payment":{"card_token":"tok_visa","amount_cents":1250}}'
  headers = { ["Content-Type"] = "application/json", ["X-Client-Id"] = "bench" }
end

function request()
  counter = counter + 1
  headers["Idempotency-Key"] = key_prefix .. counter
  return wrk.format("POST", "/orders", headers, body)
end
