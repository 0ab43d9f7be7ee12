-- One wrk script for every Twofold bench load.
--   wrk -t T -c C -d D -s bench/lua/load.lua URL -- MODE FILE THREADS EXPECT
-- MODE: bare | verify | me | login | full | pi
-- FILE: tab-separated lines, split between threads (line i goes to thread i % THREADS).
--   verify: token<TAB>code    me: token    login: login<TAB>password    full: login<TAB>password<TAB>code
--   pi:     serial<TAB>code
-- Lines of verify, full and pi are used once each (a TOTP step is accepted once per device):
-- a thread that runs out stops, and the rate is computed from the thread's own clock, since
-- wrk divides by the full duration. bare, me and login cycle through their lines.
-- EXPECT: the HTTP status that counts as the expected answer (pi: body says "value": true).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local function split(line)
  local out = {}
  for field in string.gmatch(line, "[^\t]+") do table.insert(out, field) end
  return out
end

function init(args)
  mode = args[1]
  expect = tonumber(args[4] or "200")
  items = {}
  if args[2] and args[2] ~= "-" then
    local nthreads = tonumber(args[3])
    local i = 0
    for line in io.lines(args[2]) do
      if i % nthreads == id then table.insert(items, split(line)) end
      i = i + 1
    end
  end
  cycle = (mode == "bare" or mode == "login" or mode == "me")
  pos = 0
  ok, bad, stopped = 0, 0, false
  t0, t1 = 0, 0
  phase, login_started, item = 0, 0, nil
  login_lat = {}
  json = { ["Content-Type"] = "application/json" }
end

local function next_item()
  pos = pos + 1
  if pos > #items then
    if not cycle then return nil end
    pos = 1
  end
  return items[pos]
end

local function stop()
  stopped = true
  wrk.thread:stop()
  return wrk.format("GET", "/healthz")
end

function request()
  if t0 == 0 then t0 = now() end
  if mode == "bare" then return wrk.format("GET", "/healthz") end
  if mode == "full" and phase == 1 then
    return wrk.format("POST", "/api/v1/login/mfa", json,
      '{"challenge":"' .. challenge .. '","code":"' .. item[3] .. '"}')
  end
  item = next_item()
  if item == nil then return stop() end
  if mode == "verify" then
    return wrk.format("POST", "/api/v1/verify",
      { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. item[1] },
      '{"method":"mfa","code":"' .. item[2] .. '"}')
  elseif mode == "me" then
    return wrk.format("GET", "/api/v1/me", { ["Authorization"] = "Bearer " .. item[1] })
  elseif mode == "login" or mode == "full" then
    login_started = now()
    return wrk.format("POST", "/api/v1/login", json,
      '{"login":"' .. item[1] .. '","password":"' .. item[2] .. '"}')
  elseif mode == "pi" then
    return wrk.format("POST", "/validate/check",
      { ["Content-Type"] = "application/x-www-form-urlencoded" },
      "serial=" .. item[1] .. "&pass=" .. item[2])
  end
end

function response(status, headers, body)
  if stopped then return end
  t1 = now()
  if mode == "full" then
    if phase == 0 then
      challenge = status == 200 and string.match(body, '"challenge":"([^"]+)"')
      if challenge then phase = 1 else bad = bad + 1 end
      return
    end
    phase = 0
    if status == 200 then
      ok = ok + 1
      table.insert(login_lat, (t1 - login_started) * 1000)
    else
      bad = bad + 1
    end
    return
  end
  local good
  if mode == "pi" then
    good = status == 200 and string.find(body, '"value": true', 1, true) ~= nil
  else
    good = status == expect
  end
  if good then ok = ok + 1 else bad = bad + 1 end
end

local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  local i = math.max(1, math.ceil(#sorted * p / 100))
  return sorted[i]
end

function done(summary, latency, requests)
  local ok_all, bad_all, first, last = 0, 0, math.huge, 0
  local lat = {}
  for _, t in ipairs(threads) do
    ok_all = ok_all + t:get("ok")
    bad_all = bad_all + t:get("bad")
    local a, b = t:get("t0"), t:get("t1")
    if a > 0 and a < first then first = a end
    if b > last then last = b end
    for _, v in ipairs(t:get("login_lat")) do table.insert(lat, v) end
  end
  table.sort(lat)
  local elapsed = (last > first) and (last - first) or (summary.duration / 1e6)
  local p50, p99 = latency:percentile(50) / 1000, latency:percentile(99) / 1000
  if #lat > 0 then p50, p99 = percentile(lat, 50), percentile(lat, 99) end
  io.write(string.format(
    'BENCH {"ok": %d, "bad": %d, "elapsed_s": %.4f, "p50_ms": %.3f, "p99_ms": %.3f, ' ..
    '"wrk_requests": %d, "socket_errors": %d}\n',
    ok_all, bad_all, elapsed, p50, p99, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
