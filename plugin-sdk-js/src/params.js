// Decoding params and encoding results, with errors safe to show to any client: the
// Rust SDK's rules (plugin-sdk/src/params.rs). A message names the failing field and what
// the schema expected, never the value the client sent (params may carry secrets).

import { RpcError } from "./errors.js";
import { decodeUtf8, encodeUtf8 } from "./utf8.js";


/** JSON text (or bytes) to a value: empty params are `{}`, as Centrifugo omits absent data. */
export function parseParams(params) {
  let text;
  try {
    text = typeof params === "string" ? params : decodeUtf8(params, true);
  } catch {
    throw RpcError.invalidParams("invalid params: not valid JSON");
  }
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw RpcError.invalidParams("invalid params: not valid JSON");
  }
}

/** Checks `value` against a zod schema; the parsed (defaults applied) value or a 103. */
export function validate(schema, value) {
  if (!schema) return value;
  if (typeof schema.safeParse === "function") {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    throw RpcError.invalidParams(describeIssue(r.error.issues[0], value));
  }
  const std = schema["~standard"];
  if (std && typeof std.validate === "function") {
    const r = std.validate(value);
    if (r && typeof r.then === "function") throw new Error("@plughost/sdk: async schemas are not supported");
    if (!r.issues) return r.value;
    throw RpcError.invalidParams(describeIssue({ code: "custom", path: pathOf(r.issues[0]) }, value));
  }
  throw new TypeError("@plughost/sdk: a schema must be a zod schema or a Standard Schema");
}

function pathOf(issue) {
  return (issue.path ?? []).map((p) => (typeof p === "object" && p !== null ? p.key : p));
}

/** serde_path_to_error's form: `a.b[1].c`. */
export function formatPath(path) {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

const TYPE_WORDS = {
  string: "a string",
  number: "a number",
  int: "an integer",
  bigint: "an integer",
  boolean: "a boolean",
  object: "an object",
  array: "an array",
  tuple: "an array",
  null: "null",
  undefined: "nothing",
  date: "a date",
  map: "an object",
  record: "an object",
  set: "an array",
};

function expectedType(expected) {
  return TYPE_WORDS[expected] ?? String(expected);
}

function has(value, path) {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== "object" || !Object.prototype.hasOwnProperty.call(v, p)) return false;
    v = v[p];
  }
  return true;
}

function bound(issue, word) {
  const n = Number(issue.minimum ?? issue.maximum);
  const units = { string: ["character", "characters"], array: ["item", "items"], set: ["item", "items"], file: ["byte", "bytes"] }[issue.origin];
  const unit = units ? ` ${units[n === 1 ? 0 : 1]}` : "";
  const cmp = issue.code === "too_small"
    ? (issue.inclusive === false ? "greater than" : "at least")
    : (issue.inclusive === false ? "less than" : "at most");
  return `${word}, expected ${cmp} ${n}${unit}`;
}

function listValues(values) {
  const quoted = values.map((v) => `\`${String(v)}\``);
  if (quoted.length <= 1) return quoted.join("");
  return `one of ${quoted.join(", ")}`;
}

/** The 103 message of one validation issue, from the schema's words only. */
export function describeIssue(issue, input) {
  const path = pathOf(issue);
  let detail;
  switch (issue.code) {
    case "invalid_type":
      if (path.length > 0 && !has(input, path) && issue.expected !== "undefined") {
        // serde's wording: the missing field is named at its parent's path.
        const parent = formatPath(path.slice(0, -1));
        const missing = `missing field '${String(path[path.length - 1])}'`;
        return parent === "" ? `invalid params: ${missing}` : `invalid params: field '${parent}': ${missing}`;
      }
      detail = `invalid type, expected ${expectedType(issue.expected)}`;
      break;
    case "too_small":
    case "too_big":
      detail = bound(issue, "invalid value");
      break;
    case "invalid_value":
      detail = Array.isArray(issue.values) && issue.values.length > 1
        ? `unknown variant, expected ${listValues(issue.values)}`
        : `invalid value, expected ${listValues(issue.values ?? [])}`;
      break;
    case "invalid_format":
      detail = `invalid value, expected format ${issue.format}`;
      break;
    case "not_multiple_of":
      detail = `invalid value, expected a multiple of ${issue.divisor}`;
      break;
    case "unrecognized_keys": {
      // Object keys, like serde's `unknown field`, are names the client chose, not values.
      const key = (issue.keys ?? [])[0];
      const at = formatPath([...path, key]);
      return `invalid params: field '${at}': unknown field '${key}'`;
    }
    case "invalid_union":
      detail = "data did not match any variant";
      break;
    default:
      // custom refinements and anything else: their messages may quote the value.
      detail = "invalid value";
  }
  const at = formatPath(path);
  return at === "" ? `invalid params: ${detail}` : `invalid params: field '${at}': ${detail}`;
}

/** A handler's result as JSON bytes (`undefined` is `null`); 500 when it cannot be encoded. */
export function encodeResult(result) {
  let text;
  try {
    text = JSON.stringify(result === undefined ? null : result);
  } catch (e) {
    throw RpcError.internal(`could not encode result: ${e && e.message ? e.message : e}`);
  }
  if (text === undefined) throw RpcError.internal("could not encode result: not JSON");
  return encodeUtf8(text);
}
