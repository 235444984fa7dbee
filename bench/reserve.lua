-- wrk script: POST /api/orders as one buyer (Bearer $TOKEN) for the ticket ids in $TICKETS,
-- each id once, spread over the threads ($THREADS). When the ids run out it keeps asking for
-- the last one (answered 409), so only 201s count as reservations. Prints status counts.
-- With $DELAY_MS each connection pauses that long before each request, which caps the rate
-- at about connections * 1000 / $DELAY_MS requests per second.
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  ids = {}
  for line in io.lines(os.getenv("TICKETS")) do ids[#ids + 1] = line end
  stride = tonumber(os.getenv("THREADS") or "1")
  i = tid
  statuses = {}
  headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("TOKEN") }
end

if os.getenv("DELAY_MS") then
  local pause = tonumber(os.getenv("DELAY_MS"))
  function delay() return pause end
end

function request()
  local id = ids[i] or ids[#ids]
  i = i + stride
  return wrk.format("POST", "/api/orders", headers, '{"ticketId":"' .. id .. '"}')
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
  -- With $ONCE set, each thread stops when its share of the ids is used up.
  if os.getenv("ONCE") and i > #ids then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local totals = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do io.write(string.format("STATUS %d %d\n", status, count)) end
end
