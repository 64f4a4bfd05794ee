-- wrk script for the /ping probe: GET /ping, a pause between a reply and the next request on
-- the same connection (a health checker, not a flood), and a machine-readable summary.
--
-- The pause is PING_DELAY_MS (default 10). wrk measures a request's latency from the moment it
-- is written, so the pause is not part of it. A request still unanswered when the window ends
-- is not in wrk's latencies; this script counts those and how long the oldest had waited, so a
-- slow server's censored tail is visible.

local delay_ms = tonumber(os.getenv("PING_DELAY_MS") or "10")
local threads = {}

-- Monotonic seconds: clock_gettime through LuaJIT's FFI (Debian's wrk is built on LuaJIT);
-- whole seconds from os.time elsewhere.
local now = os.time
local has_ffi, ffi = pcall(require, "ffi")
if has_ffi then
   pcall(ffi.cdef, [[
      typedef struct { long tv_sec; long tv_nsec; } ping_bench_timespec;
      int clock_gettime(int clk_id, ping_bench_timespec *tp);
   ]])
   local ts = ffi.new("ping_bench_timespec")
   now = function()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
   end
end

function setup(thread)
   table.insert(threads, thread)
end

-- The functions below run in each wrk thread's own Lua state.
function init(args)
   sent = 0
   answered = 0
   sent_at = {} -- send times of the requests not answered yet, oldest first
end

-- wrk calls delay() once before each request it writes (after the pause, the request goes),
-- so it doubles as the send counter; a request() function would also be called once by wrk's
-- own start-up check and miscount.
function delay()
   sent = sent + 1
   table.insert(sent_at, now())
   return delay_ms
end

function response(status, headers, body)
   answered = answered + 1
   table.remove(sent_at, 1)
end

-- Printed after wrk's own report; run.sh and report.py read the line that starts with "PING ".
-- Latencies are in microseconds.
function done(summary, latency, requests)
   local t_end = now()
   -- A send time is taken when the pause before the request starts, so it is early by up to the
   -- pause (and by up to a second with the whole-second clock): take that off, for a lower bound.
   local slack = delay_ms / 1000 + (has_ffi and 0 or 1)
   local total_sent, total_answered, pending_age = 0, 0, 0
   for _, t in ipairs(threads) do
      total_sent = total_sent + t:get("sent")
      total_answered = total_answered + t:get("answered")
      local first = t:get("sent_at")[1]
      if first then
         pending_age = math.max(pending_age, t_end - first - slack)
      end
   end
   local e = summary.errors
   io.write(string.format(
      "PING requests=%d sent=%d answered=%d unanswered_at_end=%d oldest_unanswered_us=%d clock=%s duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=%.1f stdev_us=%.1f errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
      summary.requests, total_sent, total_answered, total_sent - total_answered, math.max(0, pending_age) * 1e6,
      has_ffi and "monotonic" or "seconds",
      summary.duration,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean, latency.stdev,
      e.connect, e.read, e.write, e.status, e.timeout))
end
