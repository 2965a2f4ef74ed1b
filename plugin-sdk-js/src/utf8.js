// UTF-8 text <-> bytes: the engine's TextEncoder/TextDecoder when it has them (StarlingMonkey,
// Node), a small pure-JS codec otherwise (QuickJS has neither).

const NativeEncoder = globalThis.TextEncoder;
const NativeDecoder = globalThis.TextDecoder;
const nativeEncoder = NativeEncoder ? new NativeEncoder() : undefined;
const nativeFatal = NativeDecoder ? new NativeDecoder("utf-8", { fatal: true }) : undefined;
const nativeLoose = NativeDecoder ? new NativeDecoder("utf-8") : undefined;

/** `text` as UTF-8 bytes. */
export function encodeUtf8(text) {
  if (nativeEncoder) return nativeEncoder.encode(text);
  const out = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** UTF-8 `bytes` as text; with `fatal`, invalid UTF-8 throws a TypeError (else U+FFFD). */
export function decodeUtf8(bytes, fatal = false) {
  if (nativeFatal) return (fatal ? nativeFatal : nativeLoose).decode(bytes);
  let out = "";
  let i = 0;
  const bad = () => {
    if (fatal) throw new TypeError("invalid UTF-8");
    out += "\ufffd";
    i++;
  };
  while (i < bytes.length) {
    const b = bytes[i];
    let n = 0;
    let c = 0;
    let min = 0;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    } else if (b >= 0xc2 && b < 0xe0) [n, c, min] = [1, b & 31, 0x80];
    else if (b >= 0xe0 && b < 0xf0) [n, c, min] = [2, b & 15, 0x800];
    else if (b >= 0xf0 && b < 0xf5) [n, c, min] = [3, b & 7, 0x10000];
    else {
      bad();
      continue;
    }
    let ok = true;
    for (let k = 1; k <= n; k++) {
      const x = bytes[i + k];
      if (x === undefined || (x & 0xc0) !== 0x80) {
        ok = false;
        break;
      }
      c = (c << 6) | (x & 63);
    }
    if (!ok || c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
      bad();
      continue;
    }
    out += String.fromCodePoint(c);
    i += n + 1;
  }
  return out;
}
