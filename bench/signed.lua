-- wrk script: replays pre-signed Standard Webhooks requests written by bench/workload.py.
--
--   wrk -t1 -c64 -d15s --latency -s bench/signed.lua URL -- DATAFILE [RATE] [THREADS]
--
-- DATAFILE has one request per line: webhook-id TAB webhook-timestamp TAB webhook-signature TAB
-- body. Each wrk thread takes every n-th line (its own slice) in `init` and cycles through it in
-- `request`; running past the end reuses requests, which the gateway would answer as duplicates,
-- so `done` reports how often that happened (bench/run.py sizes the file so it never does).
--
-- RATE (requests per second, all threads together; omit or 0 for "as fast as possible") paces the
-- load with wrk's `delay` hook: each thread hands out send slots 1/rate apart and a connection
-- that is ready to send waits for the next free slot. A connection never sends two requests at
-- once, so when the server falls behind the achieved rate drops below RATE: report what was
-- achieved, not what was asked.
--
-- THREADS must equal wrk's -t (default 1). `done` prints one line, `BENCH_RESULT {json}`, with the
-- counts and latency percentiles (us).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
local next_thread_id = 0

function setup(thread)
  thread:set("tid", next_thread_id)
  next_thread_id = next_thread_id + 1
  table.insert(threads, thread)
end

local ids, stamps, sigs, bodies = {}, {}, {}, {}
count, cursor, wraps = 0, 0, 0 -- globals: `done` reads them with thread:get
local interval_ms, next_slot = 0, 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  local path = args[1]
  local rate = tonumber(args[2] or "0") or 0
  local nthreads = tonumber(args[3] or "1") or 1
  if not path then
    error("usage: wrk ... -s signed.lua URL -- DATAFILE [RATE] [THREADS]")
  end
  local file = assert(io.open(path, "rb"))
  local line_no = 0
  for line in file:lines() do
    if line_no % nthreads == tid then
      local id, stamp, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      if not id then
        error("malformed line " .. line_no .. " in " .. path)
      end
      count = count + 1
      ids[count], stamps[count], sigs[count], bodies[count] = id, stamp, sig, body
    end
    line_no = line_no + 1
  end
  file:close()
  if count == 0 then
    error("no requests for thread " .. tid .. " in " .. path)
  end
  if rate > 0 then
    interval_ms = 1000 / (rate / nthreads)
    next_slot = now_ms()
  else
    delay = nil -- unpaced: wrk skips the hook entirely
  end
end

function delay()
  local now = now_ms()
  local slot = next_slot
  if slot < now then
    slot = now -- behind schedule: send now, but never in a burst to catch up
  end
  next_slot = slot + interval_ms
  return math.floor(slot - now)
end

function request()
  cursor = cursor + 1
  if cursor > count then
    cursor = 1
    wraps = wraps + 1
  end
  headers["webhook-id"] = ids[cursor]
  headers["webhook-timestamp"] = stamps[cursor]
  headers["webhook-signature"] = sigs[cursor]
  return wrk.format("POST", nil, headers, bodies[cursor])
end

function done(summary, latency, requests)
  local sent, wrapped = 0, 0
  for _, thread in ipairs(threads) do
    sent = sent + (thread:get("cursor") or 0) + (thread:get("wraps") or 0) * (thread:get("count") or 0)
    wrapped = wrapped + (thread:get("wraps") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us": %d, "requests": %d, "bytes": %d, "sent": %d, "wraps": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
    summary.duration, summary.requests, summary.bytes, sent, wrapped,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
