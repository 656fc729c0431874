/**
 * Field paths and field errors with apimachinery's wording (k8s.io/apimachinery/pkg/util/validation/field).
 * Errors are values: validators return `FieldError[]`, never throw on user input.
 */

/** A position in a source file, 1-based like editors and kubectl print them. */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

export type FieldErrorType =
  | 'Invalid'
  | 'Required'
  | 'NotSupported'
  | 'Forbidden'
  | 'Duplicate'
  | 'TooMany'
  | 'TooLong'
  | 'NotFound'
  | 'Internal';

export interface FieldError {
  type: FieldErrorType;
  /** Dotted path with indices, e.g. `spec.ingress[0].ports[1].endPort`. */
  field: string;
  /** The offending value, when the error type prints one (Invalid, NotSupported, Duplicate, TooMany...). */
  value?: unknown;
  /** Free text after the value; for NotSupported, the list of supported values is in `supported`. */
  detail?: string;
  supported?: string[];
  /** Where the field sits in the source text, when known. */
  pos?: SourcePos;
  /** 'warning' findings are printed but do not reject the object. */
  severity?: 'error' | 'warning';
}

/** Immutable builder for field paths: `root('spec').child('ingress').index(0).child('ports')`. */
export class FieldPath {
  private constructor(private readonly parts: readonly (string | number)[]) {}

  static root(...names: string[]): FieldPath {
    return new FieldPath(names);
  }

  child(...names: string[]): FieldPath {
    return new FieldPath([...this.parts, ...names]);
  }

  index(i: number): FieldPath {
    return new FieldPath([...this.parts, i]);
  }

  /** Map keys print as `metadata.labels[app]` like apimachinery's `Key()`. */
  key(k: string): FieldPath {
    return new FieldPath([...this.parts, `[${k}]`]);
  }

  /** Segments for looking up source positions: strings are keys, numbers are sequence indices. */
  segments(): (string | number)[] {
    return this.parts.map((p) => (typeof p === 'string' && p.startsWith('[') ? p.slice(1, -1) : p));
  }

  toString(): string {
    let out = '';
    for (const p of this.parts) {
      if (typeof p === 'number') out += `[${p}]`;
      else if (p.startsWith('[')) out += p;
      else out += out === '' ? p : `.${p}`;
    }
    return out;
  }
}

/** Go's %#v-ish rendering used by apimachinery: strings quoted, numbers bare. */
export function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The error text exactly as the apiserver/kubectl print it after the field path. */
export function errorBody(e: FieldError): string {
  switch (e.type) {
    case 'Invalid':
      return `Invalid value: ${formatValue(e.value)}${e.detail ? `: ${e.detail}` : ''}`;
    case 'Required':
      return `Required value${e.detail ? `: ${e.detail}` : ''}`;
    case 'NotSupported': {
      const list = (e.supported ?? []).map((s) => JSON.stringify(s)).join(', ');
      return `Unsupported value: ${formatValue(e.value)}${list ? `: supported values: ${list}` : ''}`;
    }
    case 'Forbidden':
      return `Forbidden${e.detail ? `: ${e.detail}` : ''}`;
    case 'Duplicate':
      return `Duplicate value: ${formatValue(e.value)}`;
    case 'TooMany':
      return `Too many: ${formatValue(e.value)}${e.detail ? `: ${e.detail}` : ''}`;
    case 'TooLong':
      return `Too long: ${e.detail ?? formatValue(e.value)}`;
    case 'NotFound':
      return `Not found: ${formatValue(e.value)}`;
    case 'Internal':
      return `Internal error: ${e.detail ?? ''}`;
  }
}

/** `spec.ingress[0].ports[0].endPort: Invalid value: 70: must be greater than or equal to port` */
export function formatFieldError(e: FieldError): string {
  return e.field ? `${e.field}: ${errorBody(e)}` : errorBody(e);
}

export function invalid(path: FieldPath | string, value: unknown, detail: string): FieldError {
  return { type: 'Invalid', field: String(path), value, detail };
}

export function required(path: FieldPath | string, detail?: string): FieldError {
  return { type: 'Required', field: String(path), detail };
}

export function notSupported(path: FieldPath | string, value: unknown, supported: string[]): FieldError {
  return { type: 'NotSupported', field: String(path), value, supported };
}

export function forbidden(path: FieldPath | string, detail: string): FieldError {
  return { type: 'Forbidden', field: String(path), detail };
}
