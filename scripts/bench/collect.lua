-- wrk script for `make bench`'s preparation: requests /serve/json for the zones listed in
-- BENCH_PATHS and appends the impression and click paths of the answers (signed tokens) to
-- BENCH_OUT.<thread>.imp and .click, for the measured rounds to replay.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local paths = {}
local idx = 0
-- A browser's User-Agent: without one every event would be recorded as a bot's.
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
local imp, click

function init(args)
  local f = io.open(os.getenv("BENCH_PATHS"), "r")
  for line in f:lines() do
    if #line > 0 then paths[#paths + 1] = line end
  end
  f:close()
  local out = os.getenv("BENCH_OUT") .. "." .. id
  imp = io.open(out .. ".imp", "w")
  click = io.open(out .. ".click", "w")
end

function request()
  idx = idx % #paths + 1
  return wrk.format(nil, paths[idx])
end

function response(status, headers, body)
  if status ~= 200 then return end
  body = body:gsub("\\u0026", "&")
  local i = body:match('"impression_url":"https?://[^/"]+(/[^"]+)"')
  local c = body:match('"click_url":"https?://[^/"]+(/[^"]+)"')
  if i then imp:write(i, "\n"); imp:flush() end
  if c then click:write(c, "\n"); click:flush() end
end
