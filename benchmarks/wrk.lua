-- One wrk script for every scenario; benchmarks/run.py picks one with BENCH_SCENARIO.
local scenario = os.getenv("BENCH_SCENARIO")
local users = tonumber(os.getenv("BENCH_USERS"))
local token = os.getenv("BENCH_TOKEN") or ""
local big_team = os.getenv("BENCH_TEAM") or "00000000-0000-4000-9000-000000000000"
-- Where the SCIM endpoints are: another server (benchmarks/peer.py) may serve them elsewhere.
local prefix = os.getenv("BENCH_PREFIX") or "/scim/v2"
local patch_schema = '"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]'
local user_schema = '"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]'
local counter = 0
-- Distinct per wrk instance when several share one server set (benchmarks/scaleout.py):
-- new userNames never collide, and each instance moves members of its own slice of users.
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
-- How many events the feed holds (benchmarks/events.py): pages start at random positions.
local events = tonumber(os.getenv("BENCH_EVENTS") or "0")

math.randomseed(os.time())
wrk.headers["Authorization"] = "Bearer " .. token
local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
wrk.headers["Content-Type"] = "application/scim+json"

-- The seeded users' ids: benchmarks/seed.py's pattern, or one id a line from BENCH_IDS
-- (users created over HTTP, whose ids the server chose: benchmarks/peer.py).
local ids = nil
local ids_file = os.getenv("BENCH_IDS")
if ids_file and ids_file ~= "" then
  ids = {}
  for line in io.lines(ids_file) do
    ids[#ids + 1] = line
  end
end

local function uid(i)
  if ids then
    return ids[i + 1]
  end
  return string.format("00000000-0000-4000-8000-%012d", i)
end

local function any_user()
  return math.random(0, users - 1)
end

local function deep_start()
  return math.floor(users * 0.9) + math.random(0, math.max(1, math.floor(users * 0.05)))
end

local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- scimlite's cursor for "after position n" in the default order (RFC 9865): base64url "k:n".
local function cursor_after(n)
  local text = "k:" .. tostring(n)
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = text:byte(i, i + 2)
    local word = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = (c and 4) or (b and 3) or 2
    for j = 1, chars do
      local index = math.floor(word / 2 ^ (18 - 6 * (j - 1))) % 64
      out[#out + 1] = b64:sub(index + 1, index + 1)
    end
  end
  return table.concat(out)
end

-- A page of the events feed after a random position (SQLite: a position is the event's id).
local function feed_page(limit)
  local after = math.random(0, math.max(0, events - limit))
  return wrk.format("GET", string.format("/api/v1/events?limit=%d&after=%d", limit, after))
end

local scenarios = {
  events_100 = function()
    return feed_page(100)
  end,
  events_1000 = function()
    return feed_page(1000)
  end,
  list_cursor = function()
    return wrk.format("GET", prefix .. "/Users?count=100&cursor=" .. cursor_after(deep_start()))
  end,
  get_user = function()
    return wrk.format("GET", prefix .. "/Users/" .. uid(any_user()))
  end,
  filter_username = function()
    return wrk.format("GET", prefix .. string.format(
      "/Users?filter=userName%%20eq%%20%%22user%d%%40example.com%%22", any_user()))
  end,
  filter_email = function()
    return wrk.format("GET", prefix .. string.format(
      "/Users?filter=emails%%5Btype%%20eq%%20%%22work%%22%%5D.value%%20eq%%20" ..
      "%%22user%d%%40example.com%%22", any_user()))
  end,
  list_deep = function()
    return wrk.format("GET", prefix .. string.format("/Users?startIndex=%d&count=100", deep_start()))
  end,
  list_sorted = function()
    return wrk.format("GET", prefix .. string.format(
      "/Users?sortBy=userName&startIndex=%d&count=100", deep_start()))
  end,
  post_user = function()
    counter = counter + 1
    local body = string.format(
      '{%s,"userName":"new-%s-%d@example.com","active":true,' ..
      '"emails":[{"value":"new-%s-%d@example.com","type":"work","primary":true}]}',
      user_schema, run, counter, run, counter)
    return wrk.format("POST", prefix .. "/Users", nil, body)
  end,
  put_user = function()
    local i = any_user()
    local body = string.format(
      '{%s,"userName":"user%d@example.com","title":"T%d","active":true,' ..
      '"emails":[{"value":"user%d@example.com","type":"work","primary":true}]}',
      user_schema, i, math.random(1000), i)
    return wrk.format("PUT", prefix .. "/Users/" .. uid(i), nil, body)
  end,
  patch_active = function()
    local body = string.format(
      '{%s,"Operations":[{"op":"replace","path":"active","value":%s}]}',
      patch_schema, math.random(2) == 1 and "false" or "true")
    return wrk.format("PATCH", prefix .. "/Users/" .. uid(any_user()), nil, body)
  end,
  patch_member = function()
    counter = counter + 1
    local who = uid((offset + math.floor(counter / 2)) % users)
    local op
    if counter % 2 == 0 then
      op = string.format('{"op":"remove","path":"members[value eq \\"%s\\"]"}', who)
    else
      op = string.format('{"op":"add","path":"members","value":[{"value":"%s"}]}', who)
    end
    local body = string.format('{%s,"Operations":[%s]}', patch_schema, op)
    return wrk.format("PATCH", prefix .. "/Groups/" .. big_team .. "?excludedAttributes=members",
                      nil, body)
  end,
  get_big_team = function()
    return wrk.format("GET", prefix .. "/Groups/" .. big_team .. "?excludedAttributes=members")
  end,
  -- The issue's large-team list: a page of teams, the 50,000-member team first, each with
  -- its roster (peak memory under concurrent large responses: docs/benchmarks.md).
  list_groups_big = function()
    return wrk.format("GET", "/scim/v2/Groups?count=1000")
  end,
  console_users = function()
    return wrk.format("GET", string.format("/users?page=%d", math.random(1, math.floor(users / 50))))
  end,
  console_search = function()
    return wrk.format("GET", string.format("/users?q=user%d%%40example.com", any_user()))
  end,
  console_team = function()
    return wrk.format("GET", "/teams/" .. big_team .. string.format("?page=%d", math.random(1, 100)))
  end,
  console_dashboard = function()
    return wrk.format("GET", "/")
  end,
  ceiling_json = function()
    return wrk.format("GET", "/json")
  end,
  ceiling_get = function()
    return wrk.format("GET", "/users/" .. uid(any_user()))
  end,
  ceiling_insert = function()
    counter = counter + 1
    local body = string.format('{"userName":"new-%s-%d@example.com","active":true}', run, counter)
    return wrk.format("POST", "/users", nil, body)
  end,
}

request = scenarios[scenario]
