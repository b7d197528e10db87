-- bench/orders: POST /orders?wait=10000, each request a new order of 1-3 distinct random lines
-- over SKU-0001..SKU-<skus>, quantity 1-3, paid with tok_visa, from a new customer with a new
-- Idempotency-Key. Arguments after "--": <run id> <phase> <skus>.
-- Counts the answers by what they say: 201 confirmed, 409 rejected, 422 cancelled (an
-- order-cancelled problem), 202 (the order had not ended when the wait ran out), anything else.
-- done() prints one line, "wrk_result ...", that bench/orders reads.

thread_no = 0 -- set by setup() in each thread's environment (so a global, not a local)
local threads = {}

function setup(thread)
  thread:set("thread_no", #threads)
  table.insert(threads, thread)
end

local counter = 0
local prefix
local skus
local headers

-- Per thread; read by done() through thread:get (numbers and strings only).
n_confirmed, n_rejected, n_cancelled, n_unfinished, n_other = 0, 0, 0, 0, 0
other_codes = ""
local other = {}

function init(args)
  local run, phase = args[1], args[2]
  skus = tonumber(args[3] or "1000")
  assert(run and phase, "orders_post.lua needs: -- <run id> <phase> [skus]")
  prefix = run .. "-" .. phase .. "-" .. thread_no .. "-"
  local seed = thread_no * 7919 + os.time()
  for i = 1, #run do
    seed = (seed * 31 + run:byte(i)) % 2147483647
  end
  math.randomseed(seed)
  headers = { ["Content-Type"] = "application/json", ["X-Client-Id"] = "bench" }
end

function request()
  counter = counter + 1
  local n, used, lines, units = math.random(1, 3), {}, {}, 0
  while #lines < n do
    local s = math.random(1, skus)
    if not used[s] then
      used[s] = true
      local qty = math.random(1, 3)
      units = units + qty
      lines[#lines + 1] = string.format('{"sku":"SKU-%04d","qty":%d}', s, qty)
    end
  end
  headers["Idempotency-Key"] = "k-" .. prefix .. counter
  local body = string.format(
    '{"customer_id":"c-%s%d","lines":[%s],"payment":{"card_token":"tok_visa","amount_cents":%d}}',
    prefix, counter, table.concat(lines, ","), units * 1250)
  return wrk.format("POST", "/orders?wait=10000", headers, body)
end

function response(status, _, body)
  if status == 201 then
    n_confirmed = n_confirmed + 1
  elseif status == 409 and body:find("order-rejected", 1, true) then
    n_rejected = n_rejected + 1
  elseif status == 422 and body:find("order-cancelled", 1, true) then
    n_cancelled = n_cancelled + 1
  elseif status == 202 then
    n_unfinished = n_unfinished + 1
  else
    n_other = n_other + 1
    other[status] = (other[status] or 0) + 1
    local parts = {}
    for code, count in pairs(other) do
      parts[#parts + 1] = code .. ":" .. count
    end
    other_codes = table.concat(parts, ",")
  end
end

function done(summary, latency, _)
  local totals = { confirmed = 0, rejected = 0, cancelled = 0, unfinished = 0, other = 0 }
  local codes = {}
  for _, t in ipairs(threads) do
    totals.confirmed = totals.confirmed + t:get("n_confirmed")
    totals.rejected = totals.rejected + t:get("n_rejected")
    totals.cancelled = totals.cancelled + t:get("n_cancelled")
    totals.unfinished = totals.unfinished + t:get("n_unfinished")
    totals.other = totals.other + t:get("n_other")
    for code, count in string.gmatch(t:get("other_codes"), "(%d+):(%d+)") do
      codes[code] = (codes[code] or 0) + tonumber(count)
    end
  end
  local list = {}
  for code, count in pairs(codes) do
    list[#list + 1] = code .. ":" .. count
  end
  table.sort(list)
  local e = summary.errors
  io.write(string.format(
    "wrk_result requests=%d seconds=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "confirmed=%d rejected=%d cancelled=%d unfinished=%d other=%d other_codes=%s " ..
    "errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, totals.confirmed, totals.rejected, totals.cancelled, totals.unfinished,
    totals.other, (#list > 0 and table.concat(list, ",") or "-"),
    e.connect, e.read, e.write, e.timeout))
end
