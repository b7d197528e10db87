-- bench/http: GET /orders/{id} round-robin over the ids in a file (one per line), each thread
-- starting at a different one; the requests are built once in init(). Arguments after "--":
-- <ids file>. The ceiling run sends the very same requests to bench/http_ceiling.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "http_report.lua")

thread_no = 0
local threads_set_up = 0

function setup(thread)
  thread:set("thread_no", threads_set_up)
  threads_set_up = threads_set_up + 1
end

local requests = {}
local next_request = 1

function init(args)
  assert(args[1], "http_get_orders.lua needs: -- <ids file>")
  local headers = { ["X-Client-Id"] = "bench" }
  for id in io.lines(args[1]) do
    if id ~= "" then
      requests[#requests + 1] = wrk.format("GET", "/orders/" .. id, headers)
    end
  end
  assert(#requests > 0, "no order ids in " .. args[1])
  next_request = (thread_no % #requests) + 1
end

function request()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end
