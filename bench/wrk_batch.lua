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

request = function()
  if mode == "single" then
    local body = '{"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"' .. vs .. '"},' .. coding() .. ']}'
    return wrk.format("POST", "/ValueSet/$validate-code", headers, body)
  end
  local items = {}
  for i = 1, size do
    items[i] = '{"name":"validation","resource":{"resourceType":"Parameters","parameter":[' .. coding() .. ']}}'
  end
  local body = '{"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"' .. vs .. '"},' ..
    table.concat(items, ",") .. ']}'
  return wrk.format("POST", "/ValueSet/$batch-validate-code", headers, body)
end
-- The harness appends the done() function that prints the RESULT line.
