-- urls.lua: send a different URL on every request, cycling through a file of them (one path
-- with its query per line, e.g. /track/imp?t=…), for `make bench` (cmd/adnet/bench_test.go).
--
-- Usage: wrk -t2 -c64 -d10s -s bench/urls.lua http://HOST:PORT -- URLFILE
-- The summary is printed as by report.lua, which is loaded from this file's directory.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local counter = 0

-- setup runs in the main Lua state once per thread, before it starts: it numbers the threads
-- so that each starts at its own offset in the list.
function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end

local paths = {}
local i = 0

-- init runs in each thread's own Lua state with the arguments after "--".
function init(args)
  local file = args[1]
  if not file then
    error("urls.lua: no URL file (wrk ... -s urls.lua URL -- FILE)")
  end
  for line in io.lines(file) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  if #paths == 0 then
    error("urls.lua: " .. file .. " holds no URL")
  end
  -- Threads start half a list apart: the same token is not sent by both at the same moment.
  i = math.floor((thread_id or 0) * #paths / 2) % #paths
end

-- request is called by wrk for every request of the thread.
function request()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
