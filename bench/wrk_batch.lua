-- $validate-code one code per request ("single") or 100 codings per $batch-validate-code ("batch").
local cpt = "http://www.ama-assn.org/go/cpt"
local vs = "https://terminology.example.org/fhir/ValueSet/cpt-spine-all"
local known = {"72020", "72125", "72126", "72127", "72240", "72255", "72265", "72270", "62284",
               "62302", "62303", "62304", "62305", "72126:26", "62302:59", "26", "59", "72125:XS"}
local unknown = {"99999", "00000"}
local mode = os.getenv("BENCH_MODE") or "single"
local size = tonumber(os.getenv("BENCH_BATCH") or "100")
local headers = {["Content-Type"] = "application/fhir+json"}

math.randomseed(7)

local function code()
  if math.random(11) == 1 then return unknown[math.random(#unknown)] end
  return known[math.random(#known)]
end

local function coding()
  return '{"name":"system","valueUri":"' .. cpt .. '"},{"name":"code","valueCode":"' .. code() .. '"}'
end

-- Bodies are built once and cycled: wrk shares the two cores with the server, so building a
-- 100-coding body per request would measure the load generator rather than the service.
local bodies = {}
local path = mode == "single" and "/ValueSet/$validate-code" or "/ValueSet/$batch-validate-code"
for b = 1, 64 do
  if mode == "single" then
    bodies[b] = '{"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"' .. vs .. '"},' .. coding() .. ']}'
  else
    local items = {}
    for i = 1, size do
      items[i] = '{"name":"validation","resource":{"resourceType":"Parameters","parameter":[' .. coding() .. ']}}'
    end
    bodies[b] = '{"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"' .. vs .. '"},' ..
      table.concat(items, ",") .. ']}'
  end
end
local next_body = 0

request = function()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", path, headers, bodies[next_body])
end
-- The harness appends the done() function that prints the RESULT line.
