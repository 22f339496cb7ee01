// Untrusted text (provchain._internal.text and entries._text): the identifier profile of item ids and key
// names, Python's str.isprintable, and the display rules (escape, quote) of docs/spec/entries.md. Code
// points that Python's unicodedata does not assign count as unassigned (Cn) here too, and Bidi_Class
// comes from Python's tables (unicode-data.js), so that this engine's newer Unicode gives the same verdicts.

import { ASSIGNED, AUGMENT, RTL, SCRIPT_CODES, WITH_LATIN } from './unicode-data.js';

function inRanges(table, cp) {
  let lo = 0;
  let hi = table.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < table[2 * mid]) hi = mid - 1;
    else if (cp > table[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

const RE_CAT = {
  Cc: /\p{Cc}/u,
  Cf: /\p{Cf}/u,
  Cs: /\p{Cs}/u,
  Co: /\p{Co}/u,
  Zs: /\p{Zs}/u,
  Zl: /\p{Zl}/u,
  Zp: /\p{Zp}/u,
  Mn: /\p{Mn}/u,
  Mc: /\p{Mc}/u,
  Me: /\p{Me}/u,
};

// The General_Category of one code point (as a string of one code point), Cn when Python's Unicode does
// not assign it; the categories that no rule here names are 'other'.
export function category(ch) {
  const cp = ch.codePointAt(0);
  if (cp >= 0xd800 && cp <= 0xdfff) return 'Cs';
  if (!inRanges(ASSIGNED, cp)) return 'Cn';
  for (const [name, re] of Object.entries(RE_CAT)) if (re.test(ch)) return name;
  return 'other';
}

const IGNORABLE = /[\p{Default_Ignorable_Code_Point}\u2800]/u;
const NOT_PRINTABLE = new Set(['Cc', 'Cf', 'Cs', 'Co', 'Cn', 'Zl', 'Zp', 'Zs']);
const CONTROL = new Set(['Cc', 'Zl', 'Zp', 'Cs']);
const MARKS = new Set(['Mn', 'Mc', 'Me']);
export const MAX_MARKS = 4;

// Python's str.isprintable(): no code point of category C* or Z* except U+0020.
export function isPrintable(text) {
  if (/^[\x20-\x7e]*$/.test(text)) return true;
  for (const ch of text) if (ch !== ' ' && NOT_PRINTABLE.has(category(ch))) return false;
  return true;
}


let scripts = null;
function scriptPatterns() {
  if (scripts === null) {
    scripts = [];
    for (const code of SCRIPT_CODES) {
      try {
        scripts.push([code, new RegExp(`\\p{scx=${code}}`, 'u')]);
      } catch {
        // a script this engine's Unicode does not know: no code point has it
      }
    }
  }
  return scripts;
}
const COMMON = /[\p{scx=Zyyy}\p{scx=Zinh}]/u;

export function scriptSet(ch) {
  if (COMMON.test(ch)) return null;
  const found = new Set();
  for (const [code, re] of scriptPatterns()) if (re.test(ch)) found.add(code);
  for (const code of [...found]) for (const extra of AUGMENT[code] ?? []) found.add(extra);
  return found;
}

function resolved(sets) {
  let out = null;
  for (const s of sets) out = out === null ? new Set(s) : new Set([...out].filter((x) => s.has(x)));
  return out;
}

function singleScript(text) {
  const sets = [...text].map(scriptSet).filter((s) => s !== null);
  const all = resolved(sets);
  if (all === null || all.size > 0) return true;
  const rest = resolved(sets.filter((s) => !s.has('Latn')));
  return rest === null || [...rest].some((x) => WITH_LATIN.has(x));
}

// Why `text` is not acceptable as an item id or key name (a reason code of provchain._internal.text), or null.
export function identifierProblem(text) {
  if (/^[\x00-\x7f]*$/.test(text)) {
    if (text.includes(' ')) return 'space';
    return isPrintable(text) ? null : 'control';
  }
  const chars = [...text];
  const cats = chars.map(category);
  if (cats.includes('Zs')) return 'space';
  if (cats.some((c) => CONTROL.has(c))) return 'control';
  if (cats.includes('Cn')) return 'unassigned';
  if (cats.includes('Co')) return 'private-use';
  if (cats.includes('Cf') || IGNORABLE.test(text)) return 'invisible';
  if (text.normalize('NFC') !== text) return 'not-nfc';
  if (text.normalize('NFKC') !== text) return 'compatibility';
  if (MARKS.has(cats[0])) return 'combining';
  let run = 0;
  for (const c of cats) {
    run = MARKS.has(c) ? run + 1 : 0;
    if (run > MAX_MARKS) return 'combining';
  }
  if (!singleScript(text)) return 'mixed-script';
  return null;
}

const PLAIN = /^[\x20-\x7e]*$/;
const SPECIAL = /["\\;=,]/;

function codeOf(ch) {
  const n = ch.codePointAt(0);
  return n <= 0xffff ? `\\u${n.toString(16).padStart(4, '0')}` : `\\U${n.toString(16).padStart(8, '0')}`;
}

// `text` made safe to show on one line (docs/spec/entries.md, "Displaying entries", rules 1 and 2).
export function escape(text) {
  if (typeof text !== 'string') throw new TypeError('escape() takes text');
  if (PLAIN.test(text) && !SPECIAL.test(text)) return text;
  const out = [];
  let run = 0;
  let base = false;
  let rtl = false;
  for (const ch of text) {
    const cat = category(ch);
    const ascii = ch.codePointAt(0) < 0x80;
    if (ch === '\\') out.push('\\\\');
    else if (ch !== ' ' && (cat[0] === 'C' || cat[0] === 'Z' || (!ascii && IGNORABLE.test(ch)))) out.push(codeOf(ch));
    else if (MARKS.has(cat)) {
      if (base && run < MAX_MARKS) {
        out.push(ch);
        run += 1;
        continue;
      }
      out.push(codeOf(ch));
    } else {
      out.push(ch);
      rtl = rtl || inRanges(RTL, ch.codePointAt(0));
      run = 0;
      base = true;
      continue;
    }
    run = 0;
    base = false;
  }
  const shown = out.join('');
  return rtl ? `\u2068${shown}\u2069` : shown;
}

// `text` as one unambiguous field value: escaped, and in double quotes unless plain (rule 3).
export function quote(text) {
  const shown = escape(text);
  if (shown === text && text && text[0] !== ' ' && text[text.length - 1] !== ' ' && !SPECIAL.test(text)) return text;
  return `"${shown.replace(/"/g, '\\"')}"`;
}
