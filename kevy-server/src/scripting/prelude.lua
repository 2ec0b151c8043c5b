-- The scripting environment Redis gives scripts, built once per Lua state.
--
-- `real` holds every global; scripts see it only through `_G`, an empty
-- proxy whose reads fall through to `real` (a missing name is an error, as
-- in Redis) and whose writes fail ("Attempt to modify a readonly table").
-- Every library table is reached through such a read-only proxy too, so no
-- script can change what the next one sees. Errors that Redis raises from
-- C are raised here with `error`, at the level Redis reports.
--
-- `rust` holds the functions implemented in Rust: `call` (redis.call and
-- redis.pcall), `args` (a run's keys and arguments), `sha1hex`, `log`,
-- `setresp`, `acl_check`, `register` (redis.register_function) and `where`
-- (the error handler's location).
local real, rust, version, version_num = ...

local error, type, tostring, tonumber, select = error, type, tostring, tonumber, select
local rawget, rawset, rawequal, next = rawget, rawset, rawequal, next
local setmetatable, getmetatable = setmetatable, getmetatable
local pcall, xpcall, pairs = pcall, xpcall, pairs
local strsub, strfind, strbyte = string.sub, string.find, string.byte

-- Read-only views: proxy -> the table it shows.
local shown = setmetatable({}, { __mode = "k" })

local function readonly()
    error("Attempt to modify a readonly table", 2)
end

local function protect(t)
    local p = {}
    setmetatable(p, { __index = t, __newindex = readonly, __metatable = false })
    shown[p] = t
    return p
end

local function refuse_readonly(t)
    if shown[t] ~= nil then
        error("Attempt to modify a readonly table", 0)
    end
end

-- Base functions as Redis's Lua has them.
real.print, real.dofile, real.loadfile = nil, nil, nil
real.setfenv, real.getfenv, real.newproxy, real.module = nil, nil, nil, nil
real.require, real.package, real.os, real.io, real.debug = nil, nil, nil, nil, nil

real.rawset = function(t, k, v)
    refuse_readonly(t)
    return rawset(t, k, v)
end

real.setmetatable = function(t, mt)
    refuse_readonly(t)
    return setmetatable(t, mt)
end

-- Errors raised by the Rust functions reach Lua as userdata; `unwrap`
-- gives what Redis raises instead: an error table (`as_table`) or its
-- message.
local unwrap = rust.unwrap

-- Redis's pcall hands out the `err` field of an error table.
local function pcall_result(ok, ...)
    if not ok then
        local e = unwrap((...), false)
        if type(e) == "table" then
            local m = rawget(e, "err")
            if type(m) == "string" or type(m) == "number" then
                return false, m
            end
        end
        return false, e
    end
    return ok, ...
end
real.pcall = function(...)
    return pcall_result(pcall(...))
end
real.xpcall = function(f, h)
    return xpcall(f, function(e)
        return h(unwrap(e, true))
    end)
end

-- Iterating a read-only view iterates what it shows, without handing the
-- table itself out.
local function view_next(t)
    return function(_, k)
        return next(t, k)
    end
end
real.pairs = function(t)
    local s = shown[t]
    if s ~= nil then
        return view_next(s), t, nil
    end
    return pairs(t)
end
real.next = function(t, k)
    local s = shown[t]
    if s ~= nil then
        return next(s, k)
    end
    return next(t, k)
end

-- Bytecode is not loaded: it is read as text, as Redis's Lua does.
real.loadstring, real.load = rust.loadstring, rust.load

-- Redis's math.random and math.randomseed (rust.lua: rand48, one state
-- for the process).
local math_ = {}
for k, v in next, math do
    math_[k] = v
end
math_.random, math_.randomseed = rust.random, rust.randomseed
real.math = math_

-- Table functions that write refuse read-only views.
local table_ = {}
for k, v in next, table do
    table_[k] = v
end
for _, name in next, { "insert", "remove", "sort", "setn" } do
    local f = table[name]
    table_[name] = function(t, ...)
        refuse_readonly(t)
        return f(t, ...)
    end
end
real.table = table_

local coroutine_ = {}
for k, v in next, coroutine do
    coroutine_[k] = v
end
local resume = coroutine.resume
local function resume_result(ok, ...)
    if not ok then
        return false, unwrap((...), true)
    end
    return ok, ...
end
coroutine_.resume = function(co, ...)
    return resume_result(resume(co, ...))
end
real.coroutine = coroutine_

-- The redis library.
local redis = {}
redis.call, redis.pcall = rust.call, rust.pcall
redis.sha1hex, redis.log, redis.setresp = rust.sha1hex, rust.log, rust.setresp
redis.set_repl, redis.acl_check_cmd = rust.set_repl, rust.acl_check_cmd
-- luaPushErrorBuff: "-CODE msg" keeps its code, anything else is ERR.
local function error_table(s)
    local code, msg
    if strsub(s, 1, 1) == "-" then
        local sp = strfind(s, " ", 1, true)
        if sp then
            code, msg = strsub(s, 2, sp - 1), strsub(s, sp + 1)
        else
            code, msg = "ERR", strsub(s, 2)
        end
    else
        code, msg = "ERR", s
    end
    msg = msg:gsub("^[\r\n]+", ""):gsub("[\r\n]+$", "")
    return { err = code .. " " .. msg }
end
redis.error_reply = function(...)
    local s = ...
    if select("#", ...) ~= 1 or type(s) ~= "string" then
        return { err = "ERR wrong number or type of arguments" }
    end
    if strsub(s, 1, 1) ~= "-" then
        s = "-" .. s
    end
    return error_table(s)
end
redis.status_reply = function(...)
    local s = ...
    if select("#", ...) ~= 1 or type(s) ~= "string" then
        return { err = "ERR wrong number or type of arguments" }
    end
    return { ok = s }
end
redis.replicate_commands = function()
    return true
end
redis.breakpoint = function()
    return false
end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = version, version_num

-- What FUNCTION LOAD's library code sees as `redis`: registration,
-- logging and the version.
local loading = {}
for _, k in next, {
    "log", "LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING", "REDIS_VERSION",
    "REDIS_VERSION_NUM",
} do
    loading[k] = redis[k]
end
loading.register_function = rust.register

-- Every library is seen through a read-only view.
for _, k in next, { "string", "table", "math", "coroutine", "cjson", "cmsgpack", "bit", "struct" } do
    if type(real[k]) == "table" then
        real[k] = protect(real[k])
    end
end
real.redis = protect(redis)
local string_meta = getmetatable("")
string_meta.__index = real.string
local string_meta_view = protect(string_meta)
real.getmetatable = function(t)
    if type(t) == "string" then
        return string_meta_view
    end
    if shown[t] ~= nil then
        return nil
    end
    return getmetatable(t)
end

-- A missing name is an error (Redis's luaSetErrorMetatable).
local missing = {
    __index = function(_, k)
        if type(k) ~= "string" and type(k) ~= "number" then
            error("Second argument to luaProtectedTableError must be a string or number", 2)
        end
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end,
}

-- EVAL scripts see KEYS and ARGV (set by `run_script` in `eval_layer`) over the
-- globals; functions see the globals alone.
local eval_layer = setmetatable({}, { __index = real })
local globals = protect(eval_layer)
real._G = globals
setmetatable(real, missing)

-- Functions' environment: while FUNCTION LOAD runs a library's code it
-- shows `load_api` (a `redis` with registration only, nothing else), and
-- `real` when the functions run, as Redis switches its globals.
local load_api = setmetatable({ redis = protect(setmetatable(loading, missing)) }, missing)
local fn_meta = { __index = real, __newindex = readonly, __metatable = false }
local fn_env = setmetatable({}, fn_meta)
shown[fn_env] = real

-- The error handler scripts run under (Redis's __redis__err__handler): an
-- error table with the place the error was raised.
local where = rust.where
local function handler(err)
    err = unwrap(err, true)
    if type(err) ~= "table" then
        err = { err = "ERR " .. tostring(err) }
    end
    local source, line = where()
    if source ~= nil then
        err.source = source
        err.line = line
    end
    return err
end

-- Runs an EVAL script, or a function, with its keys and arguments (fresh
-- tables each run, as Redis makes them, from `rust.args`).
local script_args = rust.args
local function run_script(f)
    eval_layer.KEYS, eval_layer.ARGV = script_args()
    return xpcall(f, handler)
end
local function run_function(f)
    local keys, args = script_args()
    return xpcall(function()
        return f(keys, args)
    end, handler)
end

-- Runs FUNCTION LOAD's library code (compiled with `fn_env`): its error,
-- as Redis's plain pcall leaves it.
local function load_library(f)
    fn_meta.__index = load_api
    local ok, err = pcall(f)
    fn_meta.__index = real
    if not ok then
        return false, unwrap(err, true)
    end
    return true
end

return globals, fn_env, run_script, run_function, load_library
