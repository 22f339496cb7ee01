// The error of a refused or unreadable code: `type` is the name of the class Python's provchain.code.verify
// raises for the same input (src/provchain/errors.py), `message` names the check and a position, never a
// value of the code (docs/spec/item-code.md, "What a verifier shows").

export class CodeError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type;
    this.type = type;
  }
}

export function fail(type, message) {
  return new CodeError(type, message);
}

// BundleFormatError for a bundle that breaks the layout (provchain._internal.bundle.malformed).
export function malformed(message) {
  return new CodeError('BundleFormatError', `malformed code bundle: ${message}`);
}

// The classes Python raises for arguments (a bad pinned key or time), not for the code itself.
export const ARGUMENT_ERRORS = new Set(['InputError', 'KeyFormatError', 'WitnessPolicyError']);
