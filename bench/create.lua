-- wrk script: list tickets as one seller (Bearer token in $TOKEN), $QUOTA per thread, then stop.
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  quota = tonumber(os.getenv("QUOTA"))
  done_count = 0
  created = 0
  headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("TOKEN") }
end

function request()
  return wrk.format("POST", "/api/tickets", headers, '{"title":"Bench ticket","price":"20.00"}')
end

function response(status, hdrs, body)
  done_count = done_count + 1
  if status == 201 then created = created + 1 end
  if done_count >= quota then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("created") end
  io.write(string.format("CREATED %d\n", total))
end
