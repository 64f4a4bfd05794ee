-- wrk script for every POST /invocations load in the comparison (run.py sets the environment):
--
--   COMPARE_BODY       the JSON payload, sent with Content-Type: application/json
--   COMPARE_SESSIONS   session ids each wrk thread cycles through (0: no session header)
--   COMPARE_PAUSE_MS   pause before each request on a connection (0: none, a closed-loop flood)
--   COMPARE_EVENTS     1: count the SSE events of every reply (the fewest and most are reported)
--
-- done() prints one line starting with "COMPARE " that run.py parses; latencies in µs.

local SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"

wrk.method = "POST"
wrk.body = os.getenv("COMPARE_BODY") or error("COMPARE_BODY is not set")
wrk.headers["Content-Type"] = "application/json"

local sessions = tonumber(os.getenv("COMPARE_SESSIONS") or "0")
local pause_ms = tonumber(os.getenv("COMPARE_PAUSE_MS") or "0")
local count_events = os.getenv("COMPARE_EVENTS") == "1"
local thread_count = 0
local threads = {}

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_number", thread_count)
   table.insert(threads, thread)
end

-- Only streams get a response() function: with one, wrk hands every reply body to Lua, which
-- costs it CPU. A stream's size in bytes depends on how its events fell into chunks, so a stream
-- cut short is told by its events, not its bytes.
if count_events then
   fewest, most = -1, -1
   function response(status, headers, body)
      local _, events = body:gsub("data: ", "")
      if fewest < 0 or events < fewest then fewest = events end
      if events > most then most = events end
   end
end

-- The session header has to change per request, so only then is there a request() function:
-- without one, wrk sends one pre-built request and spends no Lua time per request.
if sessions > 0 then
   function init(args)
      -- Built once per thread, so a request costs a table lookup. Ids are distinct across
      -- threads and at least 33 characters long, like AgentCore's.
      prepared = {}
      for i = 1, sessions do
         local id = string.format("bench-compare-session-t%02d-%012d", thread_number, i)
         -- wrk.format takes these headers instead of wrk.headers, not on top of them.
         prepared[i] = wrk.format(nil, nil, {
            ["Content-Type"] = "application/json",
            [SESSION_HEADER] = id,
         })
      end
      turn = 0
   end

   -- Round robin over 4x as many ids as the thread has connections: a connection's next id is
   -- one its predecessors finished with long ago, so one session is rarely asked twice at once.
   function request()
      turn = turn % sessions + 1
      return prepared[turn]
   end
end

-- Same reason: wrk arms a timer per request only when the script has a delay() function.
-- wrk measures latency from the moment the request is written, so the pause is not in it.
if pause_ms > 0 then
   function delay()
      return pause_ms
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local events_min, events_max = -1, -1
   if count_events then
      for _, t in ipairs(threads) do
         local f, m = t:get("fewest"), t:get("most")
         if f >= 0 and (events_min < 0 or f < events_min) then events_min = f end
         if m > events_max then events_max = m end
      end
   end
   io.write(string.format(
      "COMPARE events_min=%d events_max=%d requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
      events_min, events_max, summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
