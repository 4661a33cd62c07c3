-- One wrk script for every scenario; benchmarks/run.py picks one with BENCH_SCENARIO.
local scenario = os.getenv("BENCH_SCENARIO")
local users = tonumber(os.getenv("BENCH_USERS"))
local token = os.getenv("BENCH_TOKEN") or ""
local big_team = "00000000-0000-4000-9000-000000000000"
local patch_schema = '"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]'
local user_schema = '"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]'
local counter = 0
-- Distinct per wrk instance when several share one server set (benchmarks/scaleout.py):
-- new userNames never collide, and each instance moves members of its own slice of users.
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")

math.randomseed(os.time())
wrk.headers["Authorization"] = "Bearer " .. token
local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
wrk.headers["Content-Type"] = "application/scim+json"

local function uid(i)
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

local scenarios = {
  list_cursor = function()
    return wrk.format("GET", "/scim/v2/Users?count=100&cursor=" .. cursor_after(deep_start()))
  end,
  get_user = function()
    return wrk.format("GET", "/scim/v2/Users/" .. uid(any_user()))
  end,
  filter_username = function()
    return wrk.format("GET", string.format(
      "/scim/v2/Users?filter=userName%%20eq%%20%%22user%d%%40example.com%%22", any_user()))
  end,
  filter_email = function()
    return wrk.format("GET", string.format(
      "/scim/v2/Users?filter=emails%%5Btype%%20eq%%20%%22work%%22%%5D.value%%20eq%%20" ..
      "%%22user%d%%40example.com%%22", any_user()))
  end,
  list_deep = function()
    return wrk.format("GET", string.format("/scim/v2/Users?startIndex=%d&count=100", deep_start()))
  end,
  list_sorted = function()
    return wrk.format("GET", string.format(
      "/scim/v2/Users?sortBy=userName&startIndex=%d&count=100", deep_start()))
  end,
  post_user = function()
    counter = counter + 1
    local body = string.format(
      '{%s,"userName":"new-%s-%d@example.com","active":true,' ..
      '"emails":[{"value":"new-%s-%d@example.com","type":"work","primary":true}]}',
      user_schema, run, counter, run, counter)
    return wrk.format("POST", "/scim/v2/Users", nil, body)
  end,
  put_user = function()
    local i = any_user()
    local body = string.format(
      '{%s,"userName":"user%d@example.com","title":"T%d","active":true,' ..
      '"emails":[{"value":"user%d@example.com","type":"work","primary":true}]}',
      user_schema, i, math.random(1000), i)
    return wrk.format("PUT", "/scim/v2/Users/" .. uid(i), nil, body)
  end,
  patch_active = function()
    local body = string.format(
      '{%s,"Operations":[{"op":"replace","path":"active","value":%s}]}',
      patch_schema, math.random(2) == 1 and "false" or "true")
    return wrk.format("PATCH", "/scim/v2/Users/" .. uid(any_user()), nil, body)
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
    return wrk.format("PATCH", "/scim/v2/Groups/" .. big_team .. "?excludedAttributes=members",
                      nil, body)
  end,
  get_big_team = function()
    return wrk.format("GET", "/scim/v2/Groups/" .. big_team .. "?excludedAttributes=members")
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
