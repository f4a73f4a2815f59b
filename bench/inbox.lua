-- wrk script for the inbox benchmark: sends pre-signed requests read from a file.
--
-- FEDWALL_BENCH_REQUESTS  file of records "<byte length>\n<raw HTTP request>"
-- FEDWALL_BENCH_FIRST     1-based index of the first record to send (default 1)
-- FEDWALL_BENCH_COUNT     how many records to send (default: all from FIRST)
-- FEDWALL_BENCH_THREADS   the -t given to wrk (records are split between threads)
-- FEDWALL_BENCH_CYCLE     "1": cycle through the records until -d ends (baseline);
--                         otherwise each thread stops once its records are answered.
local path = os.getenv("FEDWALL_BENCH_REQUESTS")
local first = tonumber(os.getenv("FEDWALL_BENCH_FIRST") or "1")
local count = tonumber(os.getenv("FEDWALL_BENCH_COUNT") or "0")
local nthreads = tonumber(os.getenv("FEDWALL_BENCH_THREADS") or "1")
local cycle = os.getenv("FEDWALL_BENCH_CYCLE") == "1"
local threads = {}
local counter = 0

-- wrk's own duration is always -d, even when every thread stopped early: time it here.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } fedwall_timespec;
int clock_gettime(int clock_id, fedwall_timespec *tp);
]]
local timespec = ffi.new("fedwall_timespec")
local function now_us()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
  return tonumber(timespec.tv_sec) * 1000000 + tonumber(timespec.tv_nsec) / 1000
end

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  reqs = {}
  local pos, i = 1, 0
  while pos <= #data do
    local nl = string.find(data, "\n", pos, true)
    local len = tonumber(string.sub(data, pos, nl - 1))
    i = i + 1
    if i >= first and (count == 0 or i < first + count) and (i - first) % nthreads == index then
      table.insert(reqs, string.sub(data, nl + 1, nl + len))
    end
    pos = nl + len + 1
  end
  sent, answered, not202 = 0, 0, 0
  t_first, t_last = 0, 0
end

function request()
  if sent == 0 then
    t_first = now_us()
  end
  sent = sent + 1
  if cycle then
    return reqs[((sent - 1) % #reqs) + 1]
  end
  -- Past the end (a connection freed before the last answers came): repeat the last one.
  return reqs[math.min(sent, #reqs)]
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 202 then
    not202 = not202 + 1
  end
  if not cycle and answered == #reqs then
    t_last = now_us()
    wrk.thread:stop()
    -- wrk still sleeps until -d ends; the runner interrupts it when every thread said this.
    io.stderr:write("@@THREAD_DONE\n")
  end
end

function done(summary, latency, requests)
  local bad, first, last = 0, nil, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("not202")
    first = math.min(first or t:get("t_first"), t:get("t_first"))
    last = math.max(last, t:get("t_last"))
  end
  local duration = summary.duration
  if not cycle then
    duration = last - first
  end
  local e = summary.errors
  io.write(string.format(
    '@@RESULT {"duration_us": %d, "requests": %d, "not202": %d, "errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    duration, summary.requests, bad,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
