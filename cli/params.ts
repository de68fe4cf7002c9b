/**
 * `--param @name=value` for parameterised Cosmos SQL. The value is JSON when it parses as JSON
 * (`@n=5` is a number, `@s="5"` a string, `@o={"a":1}` an object), else the literal text (`@d=dev1`).
 */
export interface QueryParameter {
  name: string;
  value: unknown;
}

const NAME = /^@[A-Za-z_][A-Za-z0-9_]*$/;

export function parseParam(raw: string): QueryParameter {
  const eq = raw.indexOf('=');
  const name = eq < 0 ? raw : raw.slice(0, eq);
  if (eq < 0 || !NAME.test(name)) {
    throw new Error(`--param: '${raw}' must look like @name=value (name: a letter or _, then letters, digits, _)`);
  }
  const text = raw.slice(eq + 1);
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    // not JSON: the literal text
  }
  return { name, value };
}

/** Commander's accumulator for a repeatable `--param`; a repeated name is refused. */
export function collectParam(raw: string, previous: QueryParameter[] = []): QueryParameter[] {
  const param = parseParam(raw);
  if (previous.some((p) => p.name === param.name)) throw new Error(`--param: ${param.name} is given twice`);
  return [...previous, param];
}
